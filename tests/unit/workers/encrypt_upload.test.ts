/**
 * processUpload() called directly with a fake BullMQ job, a real staging
 * area, a real local object store and file records in Redis under a test
 * prefix: the happy path at the chunk boundaries, progress throttling,
 * idempotent redelivery, and every failure path (deleted record, missing
 * staging, shredded key, store errors before and at the last attempt, a
 * record deleted while it was being stored).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type Job, UnrecoverableError } from "bullmq";
import {
  ciphertextSize,
  decryptStream,
  fileContext,
  KeyRing,
  webCryptoEngine,
} from "../../../crypto/mod.ts";
import { silentLogger } from "../../../log.ts";
import { newWrappedDataKey, unwrapDataKey } from "../../../storage/data_keys.ts";
import { type FileRecord, FileStore } from "../../../storage/file_store.ts";
import { newId } from "../../../storage/ids.ts";
import { LocalObjectStore } from "../../../storage/local_store.ts";
import { ciphertextKey, sidecarKey } from "../../../storage/object_keys.ts";
import type { ObjectStore } from "../../../storage/object_store.ts";
import { connectMetadataRedis } from "../../../storage/redis.ts";
import { StagingArea } from "../../../storage/staging.ts";
import { processUpload, type UploadProcessorDeps } from "../../../workers/encrypt_upload.ts";
import {
  UPLOAD_ATTEMPTS,
  type UploadJobData,
  type UploadProgress,
} from "../../../workers/queue.ts";
import {
  collect,
  flushPrefix,
  randomBytes,
  streamOf,
  tempDir,
  TEST_REDIS_URL,
  uniquePrefix,
} from "../../helpers.ts";

/** A store that records puts and can fail or run a hook before each one. */
class SpyStore implements ObjectStore {
  readonly kind = "spy";
  readonly puts: string[] = [];
  beforePut?: (key: string) => Promise<void>;

  constructor(readonly inner: ObjectStore) {}

  async put(...args: Parameters<ObjectStore["put"]>) {
    this.puts.push(args[0]);
    await this.beforePut?.(args[0]);
    return await this.inner.put(...args);
  }
  get(...args: Parameters<ObjectStore["get"]>) {
    return this.inner.get(...args);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  abortUnfinishedUploads(
    prefix: string,
    olderThan: Date,
    keep?: (key: string) => Promise<boolean>,
  ) {
    return this.inner.abortUnfinishedUploads(prefix, olderThan, keep);
  }
  ping() {
    return this.inner.ping();
  }
  close() {
    return this.inner.close();
  }
}

interface Fixture extends AsyncDisposable {
  deps: UploadProcessorDeps;
  store: SpyStore;
  files: FileStore;
  staging: StagingArea;
  released: [string, number][];
  /** Stages `bytes` and saves a `queued` record for them. */
  queue(bytes: Uint8Array): Promise<FileRecord>;
}

async function fixture(): Promise<Fixture> {
  await using stack = new AsyncDisposableStack();
  const dir = stack.use(await tempDir());
  const prefix = uniquePrefix();
  stack.defer(() => flushPrefix(prefix));
  const redis = connectMetadataRedis(TEST_REDIS_URL, prefix);
  stack.defer(async () => {
    await redis.quit();
  });
  const files = new FileStore(redis);
  const store = new SpyStore(await LocalObjectStore.create(`${dir.path}/objects`));
  const staging = await StagingArea.create(dir.path);
  const keyRing = await KeyRing.create([{ kid: "k1", key: randomBytes(32) }]);
  const released: [string, number][] = [];
  const deps: UploadProcessorDeps = {
    files,
    store,
    staging,
    keyRing,
    engine: webCryptoEngine,
    log: silentLogger,
    releaseBytes: (owner, bytes) => {
      released.push([owner, bytes]);
      return Promise.resolve();
    },
    progressIntervalMs: 0,
  };
  const owner = newId();
  const owned = stack.move();
  return {
    deps,
    store,
    files,
    staging,
    released,
    async queue(bytes) {
      const id = newId();
      await staging.stageUpload(id, streamOf(bytes), { maxBytes: bytes.length });
      const record: FileRecord = {
        id,
        owner,
        name: "test.bin",
        size: bytes.length,
        content_type: "application/octet-stream",
        status: "queued",
        created_at: new Date().toISOString(),
        ...await newWrappedDataKey(keyRing, owner, id),
      };
      await files.create(record);
      return record;
    },
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

/** A stand-in for a BullMQ job: data, attempt counters and recorded progress. */
function fakeJob(record: FileRecord, attemptsMade = 0) {
  const progress: UploadProgress[] = [];
  const job = {
    id: record.id,
    name: "encrypt-and-store",
    data: { fileId: record.id, ownerId: record.owner },
    attemptsMade,
    opts: { attempts: UPLOAD_ATTEMPTS },
    updateProgress(value: UploadProgress) {
      progress.push(value);
      return Promise.resolve();
    },
  } as unknown as Job<UploadJobData>;
  return { job, progress };
}

async function decrypted(f: Fixture, record: FileRecord): Promise<Uint8Array> {
  const key = await unwrapDataKey(f.deps.keyRing, record);
  const ciphertext = await f.store.get(ciphertextKey(record.owner, record.id));
  return await collect(
    ciphertext.pipeThrough(decryptStream(key, fileContext(record.owner, record.id))),
  );
}

Deno.test("processUpload() stores the Cobblestone ciphertext, marks the record stored and removes staging", async (t) => {
  await using f = await fixture();
  for (const size of [0, 1, 16383, 16384, 16385, 100_000]) {
    await t.step(`${size} bytes`, async () => {
      const plaintext = randomBytes(size);
      const record = await f.queue(plaintext);
      const { job, progress } = fakeJob(record);

      assert.deepEqual(await processUpload(job, f.deps), { ciphertext_size: ciphertextSize(size) });

      const stored = (await f.files.get(record.id))!;
      assert.equal(stored.status, "stored");
      assert.equal(stored.ciphertext_size, ciphertextSize(size));
      assert.equal(stored.sha256, createHash("sha256").update(plaintext).digest("hex"));
      assert.ok(stored.stored_at);
      assert.equal(stored.error, undefined);
      const info = await f.store.head(ciphertextKey(record.owner, record.id));
      assert.equal(info?.size, ciphertextSize(size));
      assert.ok(await f.store.head(sidecarKey(record.owner, record.id)), "the key sidecar exists");
      assert.ok(Buffer.from(await decrypted(f, stored)).equals(plaintext));
      await assert.rejects(f.staging.size(record.id), Deno.errors.NotFound);

      const done = progress.map((p) => p.bytes_done);
      assert.deepEqual(done, [...done].sort((a, b) => a - b), "progress never goes backwards");
      assert.deepEqual(progress.at(-1), { bytes_done: size, bytes_total: size });
    });
  }
});

Deno.test("processUpload() reports progress at most once per interval", async () => {
  await using f = await fixture();
  const record = await f.queue(randomBytes(2 * 1024 * 1024));
  const { job, progress } = fakeJob(record);
  await processUpload(job, { ...f.deps, progressIntervalMs: 60_000 });
  assert.ok(progress.length <= 2, `${progress.length} reports within one interval`);
  assert.deepEqual(progress.at(-1), { bytes_done: record.size, bytes_total: record.size });
});

Deno.test("processUpload() rejects a job whose record was deleted with UnrecoverableError and removes its staging", async () => {
  await using f = await fixture();
  const record = await f.queue(randomBytes(1000));
  await f.files.delete(record);
  const { job } = fakeJob(record);
  await assert.rejects(processUpload(job, f.deps), UnrecoverableError);
  await assert.rejects(f.staging.size(record.id), Deno.errors.NotFound);
  assert.deepEqual(f.store.puts, []);
  assert.deepEqual(f.released, [], "a deleted file's bytes were released by the delete");
});

Deno.test("processUpload() rejects a job whose owner does not match the record", async () => {
  await using f = await fixture();
  const record = await f.queue(randomBytes(10));
  const { job } = fakeJob({ ...record, owner: newId() });
  await assert.rejects(processUpload(job, f.deps), UnrecoverableError);
  assert.equal((await f.files.get(record.id))?.status, "queued", "the real record is untouched");
  assert.deepEqual(f.store.puts, []);
});

Deno.test("processUpload() treats a redelivered job of a stored record as a no-op", async () => {
  await using f = await fixture();
  const plaintext = randomBytes(50_000);
  const record = await f.queue(plaintext);
  await processUpload(fakeJob(record).job, f.deps);
  const stored = (await f.files.get(record.id))!;
  const puts = f.store.puts.length;

  const again = fakeJob(record, 0);
  assert.deepEqual(await processUpload(again.job, f.deps), {
    ciphertext_size: ciphertextSize(plaintext.length),
  });
  assert.equal(f.store.puts.length, puts, "nothing is written again");
  assert.deepEqual(await f.files.get(record.id), stored);
  assert.deepEqual(again.progress, []);
  assert.ok(Buffer.from(await decrypted(f, stored)).equals(plaintext));
});

Deno.test("processUpload() fails at once with UnrecoverableError when the staged file is missing", async () => {
  await using f = await fixture();
  const record = await f.queue(randomBytes(1000));
  await f.staging.remove(record.id);
  await assert.rejects(processUpload(fakeJob(record, 0).job, f.deps), UnrecoverableError);
  const failed = (await f.files.get(record.id))!;
  assert.equal(failed.status, "failed");
  assert.equal(failed.error, "The staged upload is missing");
  assert.deepEqual(f.released, [[record.owner, 1000]]);
  assert.deepEqual(f.store.puts, []);
});

Deno.test("processUpload() fails at once with UnrecoverableError when the data key was shredded", async () => {
  await using f = await fixture();
  const record = await f.queue(randomBytes(1000));
  await f.files.clear(record.id, "wrapped_dek");
  await assert.rejects(processUpload(fakeJob(record, 0).job, f.deps), UnrecoverableError);
  const failed = (await f.files.get(record.id))!;
  assert.equal(failed.status, "failed");
  assert.match(failed.error!, /data key/);
  await assert.rejects(f.staging.size(record.id), Deno.errors.NotFound);
  assert.deepEqual(f.released, [[record.owner, 1000]]);
});

Deno.test("processUpload() keeps staging for a retry, then after the last attempt marks the record failed, removes staging and releases quota", async () => {
  await using f = await fixture();
  const record = await f.queue(randomBytes(1000));
  f.store.beforePut = () => Promise.reject(new Error("Cannot reach the object store: test"));

  const last = UPLOAD_ATTEMPTS - 1;
  for (let attempt = 0; attempt < last; attempt++) {
    await assert.rejects(processUpload(fakeJob(record, attempt).job, f.deps), /test/);
    const retrying = (await f.files.get(record.id))!;
    assert.equal(retrying.status, "queued");
    assert.equal(retrying.error, "The object store did not accept the encrypted file");
    assert.equal(await f.staging.size(record.id), 1000, "staging is kept for the next attempt");
    assert.deepEqual(f.released, []);
  }

  await assert.rejects(processUpload(fakeJob(record, last).job, f.deps), /test/);
  const failed = (await f.files.get(record.id))!;
  assert.equal(failed.status, "failed");
  assert.equal(failed.error, "The object store did not accept the encrypted file");
  await assert.rejects(f.staging.size(record.id), Deno.errors.NotFound);
  assert.deepEqual(f.released, [[record.owner, 1000]]);

  // A late redelivery of the failed job neither retries nor releases twice.
  f.store.beforePut = undefined;
  await assert.rejects(processUpload(fakeJob(record, last).job, f.deps));
  assert.equal((await f.files.get(record.id))?.status, "failed");
  assert.deepEqual(f.released, [[record.owner, 1000]]);
});

Deno.test("processUpload() removes what it stored when the record is deleted while it works", async () => {
  await using f = await fixture();
  const record = await f.queue(randomBytes(40_000));
  f.store.beforePut = async (key) => {
    if (key === ciphertextKey(record.owner, record.id)) await f.files.delete(record);
  };
  await processUpload(fakeJob(record).job, f.deps);
  assert.equal(await f.files.get(record.id), undefined, "the deleted record stays deleted");
  assert.equal(await f.store.head(ciphertextKey(record.owner, record.id)), undefined);
  assert.equal(await f.store.head(sidecarKey(record.owner, record.id)), undefined);
});
