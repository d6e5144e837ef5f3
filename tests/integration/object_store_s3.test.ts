/**
 * S3ObjectStore against the shared contract on fauxqs (in-process, in-memory),
 * plus what only the S3 backend promises: bounded memory for large streamed
 * uploads, part sizing, parts in flight, bucket creation. fauxqs has no
 * ListMultipartUploads, so the upload-listing paths (janitor, stale uploads at
 * a key) run against `moto_server` instead, when it is installed.
 */
import assert from "node:assert/strict";
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { silentLogger } from "../../log.ts";
import {
  createS3Client,
  createS3ObjectStore,
  S3ObjectStore,
  type S3Settings,
  type S3StoreOptions,
} from "../../storage/s3_store.ts";
import { collect, freePort, randomBytes, startS3, streamOf } from "../helpers.ts";
import { objectStoreContract, type StoreFixture } from "./object_store_contract.ts";
import { motoServerPath, NEEDS_MOTO } from "./_pipeline.ts";
import { PATTERN_PERIOD, patternBlock } from "./_s3_put_memory.ts";

const MIB = 1024 * 1024;

interface S3Fixture extends StoreFixture {
  store: S3ObjectStore;
  settings: S3Settings;
  /** Every CreateMultipartUpload the store sent, in order. */
  started: { key: string; uploadId: string }[];
  /** Whether an upload still accepts parts (aborted and completed ones do not). */
  isOpen(key: string, uploadId: string): Promise<boolean>;
}

function settingsFor(endpoint: string, bucket: string): S3Settings {
  return { endpoint, bucket, region: "us-east-1", accessKeyId: "test", secretAccessKey: "test" };
}

/** Records CreateMultipartUpload results and runs `before` ahead of every command. */
function instrument(
  client: S3Client,
  started: S3Fixture["started"],
  before?: (command: string, input: Record<string, unknown>) => Promise<void>,
) {
  client.middlewareStack.add((next, context) => async (args) => {
    const input = args.input as Record<string, unknown>;
    await before?.(context.commandName!, input);
    const result = await next(args);
    if (context.commandName === "CreateMultipartUploadCommand") {
      const { UploadId } = result.output as { UploadId: string };
      started.push({ key: input.Key as string, uploadId: UploadId });
    }
    return result;
  }, { step: "initialize", name: "recordUploads" });
}

type Probe = (client: S3Client, bucket: string, key: string, uploadId: string) => Promise<boolean>;

/** Whether an upload is open, by UploadPart: fauxqs has no ListParts. */
const probeByUploadPart: Probe = async (client, bucket, key, uploadId) => {
  const part = { Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: 1 };
  return await client.send(new UploadPartCommand({ ...part, Body: new Uint8Array(1) })).then(
    () => true,
    (error) => error.name === "NoSuchUpload" ? false : Promise.reject(error),
  );
};

/** Whether an upload is open, by ListParts: moto answers UploadPart to a dead upload with a 500. */
const probeByListParts: Probe = async (client, bucket, key, uploadId) => {
  return await client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
    .then(
      () => true,
      (error) => error.name === "NoSuchUpload" ? false : Promise.reject(error),
    );
};

/** A store on a fresh fauxqs with 5 MiB parts and 7-key listing pages. */
async function fauxqsFixture(
  options: S3StoreOptions = {},
  before?: Parameters<typeof instrument>[2],
): Promise<S3Fixture> {
  const s3 = await startS3();
  const settings = settingsFor(s3.endpoint, s3.bucket);
  return s3StoreFixture(settings, () => s3.stop(), probeByUploadPart, options, before);
}

function s3StoreFixture(
  settings: S3Settings,
  stopServer: () => Promise<void>,
  probe: Probe,
  options: S3StoreOptions,
  before?: Parameters<typeof instrument>[2],
): S3Fixture {
  const client = createS3Client(settings);
  const started: S3Fixture["started"] = [];
  instrument(client, started, before);
  const partSize = options.partSize ?? 5 * MIB;
  const store = new S3ObjectStore(client, settings.bucket, {
    listPageSize: 7,
    ...options,
    partSize,
  });
  const isOpen = (key: string, uploadId: string) => probe(client, settings.bucket, key, uploadId);
  return {
    store,
    settings,
    partSize,
    started,
    isOpen,
    async unfinishedUploads() {
      let open = 0;
      for (const { key, uploadId } of started) if (await isOpen(key, uploadId)) open++;
      return open;
    },
    async [Symbol.asyncDispose]() {
      await store.close();
      await stopServer();
    },
  };
}

objectStoreContract("S3ObjectStore", () => fauxqsFixture(), { listsUploads: false });

Deno.test("S3ObjectStore put() of 50 MiB streams in bounded memory", async () => {
  await using s3 = await startS3();
  const script = new URL("./_s3_put_memory.ts", import.meta.url).pathname;
  const peak = async (mib: number) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, s3.endpoint, s3.bucket, String(mib), `memory/${mib}`],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.ok(output.success, `upload of ${mib} MiB failed`);
    const report = JSON.parse(new TextDecoder().decode(output.stdout));
    assert.equal(report.bytes, mib * MIB);
    return report.peakRss as number;
  };
  const small = await peak(10);
  const large = await peak(50);
  console.log(
    `peak RSS: 10 MiB upload ${small / MIB | 0} MiB, 50 MiB upload ${large / MIB | 0} MiB`,
  );
  assert.ok(large <= 1.5 * small + 16 * MIB, `memory grew with size: ${small} → ${large}`);

  await using fixture = s3StoreFixture(
    settingsFor(s3.endpoint, s3.bucket),
    () => s3.stop(),
    probeByUploadPart,
    {},
  );
  assert.equal((await fixture.store.head("memory/50"))?.size, 50 * MIB);
  const start = 37 * MIB + 12_345;
  const slice = await collect(await fixture.store.get("memory/50", { start, end: start + 99_999 }));
  const block = patternBlock();
  assert.deepEqual(slice, Uint8Array.from(slice, (_, i) => block[(start + i) % PATTERN_PERIOD]));
});

Deno.test("S3ObjectStore put() sends equal parts, growing them for 10,000 parts", async () => {
  const sizes: number[] = [];
  await using fixture = await fauxqsFixture({}, (command, input) => {
    if (command === "UploadPartCommand") sizes.push(input.ContentLength as number);
    return Promise.resolve();
  });
  const bytes = randomBytes(11 * MIB + 5);
  await fixture.store.put("parts/plain", streamOf(bytes, 100_000));
  assert.deepEqual(sizes, [5 * MIB, 5 * MIB, MIB + 5]);
  sizes.length = 0;
  // 60,000 MiB in 5 MiB parts would need 12,000 parts: the part size becomes 6 MiB.
  await fixture.store.put("parts/grown", streamOf(bytes), { contentLength: 60_000 * MIB });
  assert.deepEqual(sizes, [6 * MIB, 5 * MIB + 5]);
  assert.equal((await fixture.store.head("parts/grown"))?.size, bytes.length);
});

Deno.test("S3ObjectStore put() keeps at most partsInFlight parts uploading", async () => {
  let running = 0;
  let most = 0;
  await using fixture = await fauxqsFixture({ partsInFlight: 2 }, async (command) => {
    if (command !== "UploadPartCommand") return;
    most = Math.max(most, ++running);
    await new Promise((resolve) => setTimeout(resolve, 50));
    running--;
  });
  const bytes = randomBytes(5 * 5 * MIB + 1);
  assert.equal(await fixture.store.put("inflight", streamOf(bytes)), bytes.length);
  assert.equal(most, 2);
  assert.equal(fixture.started.length, 1);
  // Part buffers are reused once uploaded: the stored bytes must still be exact.
  const stored = await collect(await fixture.store.get("inflight"));
  assert.equal(stored.findIndex((byte, i) => byte !== bytes[i]), -1);
  assert.equal(stored.length, bytes.length);
});

Deno.test("createS3ObjectStore() creates a missing bucket", async () => {
  await using s3 = await startS3();
  const store = await createS3ObjectStore(
    settingsFor(s3.endpoint, "coffer-created"),
    silentLogger,
  );
  try {
    assert.equal(await store.bucketExists(), true);
    await store.put("x", streamOf(randomBytes(3)));
    assert.equal((await store.head("x"))?.size, 3);
  } finally {
    await store.close();
  }
});

// --- Upload listing, against moto_server ----------------------------------------------

/** moto_server on a free loopback port with a bucket, and a store on it. */
async function motoFixture(options: S3StoreOptions = {}): Promise<S3Fixture> {
  const port = freePort();
  const child = new Deno.Command(motoServerPath(), {
    args: ["-H", "127.0.0.1", "-p", String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    child.kill("SIGTERM");
    await child.status;
  };
  const endpoint = `http://127.0.0.1:${port}`;
  for (let tries = 0;; tries++) {
    try {
      await (await fetch(endpoint)).body?.cancel();
      break;
    } catch (error) {
      if (tries > 100) {
        await stop();
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const settings = settingsFor(endpoint, "coffer-moto");
  await (await createS3ObjectStore(settings, silentLogger)).close();
  return s3StoreFixture(settings, stop, probeByListParts, options);
}

async function startRawUpload(fixture: S3Fixture, key: string): Promise<string> {
  const { UploadId } = await fixture.store.client.send(
    new CreateMultipartUploadCommand({ Bucket: fixture.settings.bucket, Key: key }),
  );
  return UploadId!;
}

const onMoto = { ...NEEDS_MOTO, sanitizeResources: true };

Deno.test({
  name: "S3ObjectStore abortUnfinishedUploads() pages through uploads under the prefix (moto)",
  ...onMoto,
  async fn() {
    await using fixture = await motoFixture({ listPageSize: 2 });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await startRawUpload(fixture, `janitor/${i % 3}`));
    const other = await startRawUpload(fixture, "kept/0");
    // moto reports every upload as initiated in 2010, so only the prefix filter is checked here.
    assert.equal(await fixture.store.abortUnfinishedUploads("janitor/", new Date()), 5);
    for (const [i, id] of ids.entries()) {
      assert.equal(await fixture.isOpen(`janitor/${i % 3}`, id), false);
    }
    assert.equal(await fixture.isOpen("kept/0", other), true);
    await fixture.store.client.send(
      new AbortMultipartUploadCommand({
        Bucket: fixture.settings.bucket,
        Key: "kept/0",
        UploadId: other,
      }),
    );
  },
});

Deno.test({
  name: "S3ObjectStore put() aborts unfinished uploads left at the same key (moto)",
  ...onMoto,
  async fn() {
    await using fixture = await motoFixture();
    const stale = await startRawUpload(fixture, "files/u1/f1");
    const neighbour = await startRawUpload(fixture, "files/u1/f10");
    const bytes = randomBytes(fixture.partSize + 1);
    assert.equal(await fixture.store.put("files/u1/f1", streamOf(bytes)), bytes.length);
    assert.equal(await fixture.isOpen("files/u1/f1", stale), false);
    assert.equal(await fixture.isOpen("files/u1/f10", neighbour), true);
    assert.equal((await fixture.store.head("files/u1/f1"))?.size, bytes.length);
    assert.equal(await fixture.store.abortUnfinishedUploads("files/", new Date()), 1);
  },
});
