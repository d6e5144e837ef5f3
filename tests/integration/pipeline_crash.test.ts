/**
 * At-least-once delivery: a worker process killed with SIGKILL in the middle
 * of a multipart upload leaves a stalled job and an unfinished upload; a new
 * worker process takes the job over and completes exactly one object at the
 * same key, aborting the unfinished upload.
 *
 * The API runs in this process; the workers run as `deno run -A main.ts
 * worker` subprocesses configured through the environment like production.
 * The first worker reaches S3 through a throttling TCP proxy so the kill
 * lands mid-upload every time; `COFFER_JOB_LOCK_MS` shortens how long a dead
 * worker's lock holds the job.
 *
 * The new attempt finds the killed upload with ListMultipartUploads, which
 * fauxqs does not implement: there the killed upload stays open (on AWS, MinIO
 * or moto it is aborted), so "no unfinished upload is left" is checked only on
 * moto_server, which runs when it is installed.
 */
import assert from "node:assert/strict";
import { ListPartsCommand, UploadPartCommand } from "@aws-sdk/client-s3";
import type { Config } from "../../config.ts";
import { ciphertextSize } from "../../crypto/mod.ts";
import { ciphertextKey, sidecarKey } from "../../storage/object_keys.ts";
import type { S3ObjectStore } from "../../storage/s3_store.ts";
import { collect } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, waitForFile } from "../test_server.ts";
import {
  eventually,
  getJson,
  keysUnder,
  markedPlaintext,
  MIB,
  NEEDS_MOTO,
  sleep,
  stagedIds,
  startMoto,
  startRestartableS3,
  storedCiphertext,
  unfinishedUploads,
  uploadAccepted,
} from "./_pipeline.ts";

const REPO_ROOT = new URL("../../", import.meta.url);
const JWT_SECRET = "crash-test-jwt-secret-of-at-least-32-bytes";
const JOB_LOCK_MS = 2000;

/**
 * A TCP proxy to an S3 server that forwards request bytes at a bounded rate
 * and notes the UploadId of every multipart upload the server starts.
 */
interface ThrottledProxy extends AsyncDisposable {
  endpoint: string;
  uploadIds: Set<string>;
}

async function copy(
  from: Deno.Conn,
  to: Deno.Conn,
  options: { bytesPerSecond?: number; onText?: (text: string) => void } = {},
): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  const decoder = new TextDecoder("latin1");
  try {
    while (true) {
      const read = await from.read(buffer);
      if (read === null) break;
      options.onText?.(decoder.decode(buffer.subarray(0, read)));
      for (let written = 0; written < read;) {
        written += await to.write(buffer.subarray(written, read));
      }
      if (options.bytesPerSecond) await sleep((read / options.bytesPerSecond) * 1000);
    }
  } catch {
    // Either side went away: the other is closed below.
  }
}

function startThrottledProxy(targetPort: number, bytesPerSecond: number): ThrottledProxy {
  const uploadIds = new Set<string>();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const closeQuietly = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  const relay = async (client: Deno.Conn) => {
    open.add(client);
    let replies = "";
    const onText = (text: string) => {
      replies = (replies + text).slice(-4096);
      for (const match of replies.matchAll(/<UploadId>([^<]+)<\/UploadId>/g)) {
        uploadIds.add(match[1]);
      }
    };
    let server: Deno.Conn | undefined;
    try {
      server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      open.add(server);
      const upstream = server;
      await Promise.race([
        copy(client, upstream, { bytesPerSecond }),
        copy(upstream, client, { onText }),
      ]);
    } catch {
      // the target is down: drop the client
    } finally {
      closeQuietly(client);
      if (server) closeQuietly(server);
    }
  };
  const accepting = (async () => {
    try {
      for await (const client of listener) {
        const task = relay(client);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch {
      // listener closed
    }
  })();
  return {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    uploadIds,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of [...open]) closeQuietly(conn);
      await accepting;
      await Promise.allSettled([...tasks]);
    },
  };
}

/** A `main.ts worker` subprocess; disposing kills it (if alive) and waits for it. */
interface WorkerProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Resolves with everything it printed once it has exited. */
  output: Promise<string>;
}

function spawnWorker(server: TestServer, s3Endpoint: string): WorkerProcess {
  const { config } = server;
  const key = config.masterKeys![0];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "worker"],
    cwd: REPO_ROOT,
    env: {
      RUST_BACKTRACE: "0",
      NO_COLOR: "1",
      REDIS_URL: server.services.redisUrl,
      COFFER_REDIS_PREFIX: config.redisPrefix,
      COFFER_DATA_DIR: config.dataDir,
      S3_ENDPOINT: s3Endpoint,
      S3_BUCKET: config.s3!.bucket,
      S3_REGION: config.s3!.region,
      AWS_ACCESS_KEY_ID: config.s3!.accessKeyId!,
      AWS_SECRET_ACCESS_KEY: config.s3!.secretAccessKey!,
      COFFER_MASTER_KEYS: `${key.kid}:${btoa(String.fromCharCode(...key.key))}`,
      COFFER_JWT_SECRET: JWT_SECRET,
      COFFER_WORKER_CONCURRENCY: "1",
      COFFER_MAX_FILE_BYTES: String(config.maxFileBytes),
      COFFER_JOB_LOCK_MS: String(JOB_LOCK_MS),
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output().then(({ stdout, stderr }) =>
    new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr)
  );
  return {
    child,
    output,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await output;
    },
  };
}

/** Whether a multipart upload is still open (aborted and completed ones are not). */
type UploadProbe = (store: S3ObjectStore, key: string, uploadId: string) => Promise<boolean>;

const notFoundMeansClosed = (error: Error) =>
  error.name === "NoSuchUpload" ? false : Promise.reject(error);

/** By UploadPart: fauxqs has no ListParts. */
const probeByUploadPart: UploadProbe = async (store, key, uploadId) => {
  const part = { Bucket: store.bucket, Key: key, UploadId: uploadId, PartNumber: 1 };
  return await store.client.send(new UploadPartCommand({ ...part, Body: new Uint8Array(1) }))
    .then(() => true, notFoundMeansClosed);
};

/** By ListParts: moto answers UploadPart with a 500 page. */
const probeByListParts: UploadProbe = async (store, key, uploadId) => {
  return await store.client.send(
    new ListPartsCommand({ Bucket: store.bucket, Key: key, UploadId: uploadId }),
  ).then(() => true, notFoundMeansClosed);
};

interface S3Server extends AsyncDisposable {
  settings: NonNullable<Config["s3"]>;
  /** Whether it implements ListMultipartUploads (fauxqs does not). */
  listsUploads: boolean;
  isOpen: UploadProbe;
}

const SERVERS: { name: string; ignore: boolean; start: () => Promise<S3Server> }[] = [
  {
    name: "fauxqs",
    ignore: false,
    start: async () => ({
      ...await startRestartableS3(),
      listsUploads: false,
      isOpen: probeByUploadPart,
    }),
  },
  {
    name: "moto",
    ...NEEDS_MOTO,
    start: async () => ({ ...await startMoto(), listsUploads: true, isOpen: probeByListParts }),
  },
];

for (const { name, ignore, start } of SERVERS) {
  Deno.test({
    name:
      `a worker killed with SIGKILL mid-upload is replaced and the file ends stored as exactly one object (${name})`,
    ignore,
    fn: () => killWorkerMidUpload(start),
  });
}

interface StatusView {
  status: string;
  progress: { bytes_done: number };
  attempt?: number;
}

/** Polls a file's status until stopped; returns every distinct view seen. */
function watchStatus(server: TestServer, user: { headers: Record<string, string> }, id: string) {
  const views: StatusView[] = [];
  let running = true;
  const polling = (async () => {
    while (running) {
      const response = await fetch(`${server.url}/api/files/${id}/status`, {
        headers: user.headers,
      });
      const view = await response.json() as StatusView;
      if (JSON.stringify(view) !== JSON.stringify(views.at(-1))) views.push(view);
      if (view.status === "stored" || view.status === "failed") break;
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await polling;
      return views;
    },
  };
}

/**
 * The retry is visible: attempt 2 shows in the status, and within one
 * attempt an `encrypting` file's progress never runs backwards.
 */
function assertHonestRetry(views: StatusView[]): void {
  const trace = JSON.stringify(views);
  assert.ok(views.some((view) => view.attempt === 2), `no view shows attempt 2: ${trace}`);
  for (let i = 1; i < views.length; i++) {
    const [before, after] = [views[i - 1], views[i]];
    if (before.status === "encrypting" && after.status === "encrypting") {
      if ((before.attempt ?? 1) === (after.attempt ?? 1)) {
        assert.ok(
          after.progress.bytes_done >= before.progress.bytes_done,
          `progress ran backwards within one attempt: ${trace}`,
        );
      }
    }
  }
}

async function killWorkerMidUpload(startServer: () => Promise<S3Server>): Promise<void> {
  await using s3 = await startServer();
  await using server = await startTestServer({
    config: {
      s3: s3.settings,
      jwtSecret: new TextEncoder().encode(JWT_SECRET),
      workerConcurrency: 1,
    },
  });
  await using proxy = startThrottledProxy(Number(new URL(s3.settings.endpoint!).port), 4 * MIB);
  const user = await signUp(server);
  const size = 17 * MIB;
  const plaintext = markedPlaintext(size);
  const record = await uploadAccepted(server, user, "raw", plaintext);
  const key = ciphertextKey(user.id, record.id);
  const store = server.services.store as S3ObjectStore;

  {
    await using first = spawnWorker(server, proxy.endpoint);
    try {
      await eventually("the first worker to start a multipart upload", async () => {
        const view = (await getJson(server, user, `/api/files/${record.id}/status`)).body;
        assert.notEqual(view.status, "stored", "the upload finished before the kill");
        return view.status === "encrypting" && proxy.uploadIds.size > 0;
      }, 30_000);
    } catch (error) {
      first.child.kill("SIGKILL");
      throw new Error(`${error}\nworker output:\n${await first.output}`);
    }
    first.child.kill("SIGKILL");
    const status = await first.child.status;
    assert.equal(status.signal, "SIGKILL");
  }
  const [killed] = proxy.uploadIds;
  assert.equal(proxy.uploadIds.size, 1);
  assert.equal((await getJson(server, user, `/api/files/${record.id}`)).body.status, "encrypting");
  assert.equal(await s3.isOpen(store, key, killed), true, "the killed upload is unfinished");
  assert.equal(await store.head(key), undefined, "no object was completed");

  await using second = spawnWorker(server, s3.settings.endpoint!);
  const views = watchStatus(server, user, record.id);
  let final;
  try {
    final = await waitForFile(server, user, record.id, 45_000);
  } catch (error) {
    second.child.kill("SIGKILL");
    throw new Error(`${error}\nworker output:\n${await second.output}`);
  }
  assert.equal(final.status, "stored", JSON.stringify(final));
  assertHonestRetry(await views.stop());
  second.child.kill("SIGTERM");
  const started = (await second.output).split("\n").filter((line) =>
    line.includes('"job.started"')
  );
  assert.equal(started.length, 1, started.join("\n"));
  assert.equal(JSON.parse(started[0]).attempt, 2, "the redone attempt is counted as the second");

  const download = await fetch(`${server.url}/api/files/${record.id}/content`, {
    headers: user.headers,
  });
  assert.equal(download.status, 200);
  assert.ok(Buffer.from(await collect(download.body!)).equals(plaintext), "decrypts to the upload");
  assert.equal((await storedCiphertext(server, user.id, record.id)).length, ciphertextSize(size));
  assert.deepEqual(await keysUnder(store, `files/${user.id}/`), [key]);
  assert.deepEqual(await keysUnder(store, `keys/${user.id}/`), [sidecarKey(user.id, record.id)]);
  assert.deepEqual(await stagedIds(server), []);
  assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, size);
  if (s3.listsUploads) {
    // The new attempt found the killed upload by listing and aborted it.
    assert.equal(await s3.isOpen(store, key, killed), false, "the killed upload was aborted");
    assert.deepEqual(await unfinishedUploads(store), [], "no unfinished multipart upload is left");
  }
}
