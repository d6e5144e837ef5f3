/**
 * The job processor: takes one staged upload, hashes the plaintext, encrypts
 * it with the file's data key (Cobblestone-256) straight into the object
 * store, writes the key sidecar, and marks the record `stored`. It is a plain
 * function of the job and its dependencies, so tests call it directly;
 * workers/upload_worker.ts wires it to a BullMQ `Worker`.
 *
 * At-least-once is safe: a retried or redelivered job re-encrypts the whole
 * staged file to the same object key, replacing whatever an earlier attempt
 * left, and a record that is already `stored` or `failed` is left alone.
 */
import { createHash } from "node:crypto";
import { type Job, UnrecoverableError } from "bullmq";
import {
  ciphertextSize,
  type CryptoEngine,
  encryptStream,
  fileContext,
  type KeyRing,
} from "../crypto/mod.ts";
import { unwrapDataKey } from "../storage/data_keys.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { FileRecord, FileStore } from "../storage/file_store.ts";
import { type ObjectStore, ObjectStoreUnavailableError } from "../storage/object_store.ts";
import { ciphertextKey, sidecarKey } from "../storage/object_keys.ts";
import { writeKeySidecar } from "../storage/key_sidecar.ts";
import type { StagingArea } from "../storage/staging.ts";
import type { UploadJobData, UploadProgress } from "./queue.ts";

/** What the processor needs. */
export interface UploadProcessorDeps {
  files: FileStore;
  store: ObjectStore;
  staging: StagingArea;
  keyRing: KeyRing;
  /** The AES-GCM engine the encryption runs on. */
  engine: CryptoEngine;
  log: Logger;
  metrics?: Metrics;
  /** Gives a failed file's reserved bytes back to its owner's quota. */
  releaseBytes(ownerId: string, bytes: number): Promise<void>;
  /** Minimum time between progress reports (default 250 ms). */
  progressIntervalMs?: number;
}

/** What a finished job returns (kept by BullMQ for a while). */
export interface UploadResult {
  ciphertext_size: number;
}

function progressReporter(job: Job<UploadJobData>, total: number, intervalMs: number) {
  let done = 0;
  let lastReport = 0;
  const hash = createHash("sha256");
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hash.update(chunk);
      done += chunk.length;
      controller.enqueue(chunk);
      const now = performance.now();
      if (now - lastReport >= intervalMs) {
        lastReport = now;
        const progress: UploadProgress = { bytes_done: done, bytes_total: total };
        job.updateProgress(progress).catch(() => {});
      }
    },
  });
  return { counter, digest: () => hash.digest("hex"), bytesDone: () => done };
}

async function encryptAndStore(
  job: Job<UploadJobData>,
  record: FileRecord,
  deps: UploadProcessorDeps,
): Promise<UploadResult> {
  const { fileId, ownerId } = job.data;
  let dek: Uint8Array;
  try {
    dek = await unwrapDataKey(deps.keyRing, record);
  } catch {
    throw new UnrecoverableError("The file's data key cannot be unwrapped");
  }
  let plaintext: ReadableStream<Uint8Array>;
  try {
    plaintext = await deps.staging.open(fileId);
  } catch {
    throw new UnrecoverableError("The staged upload is missing");
  }
  const { counter, digest, bytesDone } = progressReporter(
    job,
    record.size,
    deps.progressIntervalMs ?? 250,
  );
  const expected = ciphertextSize(record.size);
  const stored = await deps.store.put(
    ciphertextKey(ownerId, fileId),
    plaintext.pipeThrough(counter).pipeThrough(
      encryptStream(dek, fileContext(ownerId, fileId), { engine: deps.engine }),
    ),
    { contentLength: expected },
  );
  if (bytesDone() !== record.size || stored !== expected) {
    throw new UnrecoverableError("The staged upload changed size while it was stored");
  }
  const finished = {
    ...record,
    status: "stored" as const,
    stored_at: new Date().toISOString(),
    ciphertext_size: stored,
    sha256: digest(),
  };
  await writeKeySidecar(deps.store, deps.keyRing, finished);
  await job.updateProgress({ bytes_done: record.size, bytes_total: record.size });
  if (!await deps.files.update(fileId, finished)) {
    // Deleted while we worked: do not leave an orphan behind.
    await deps.store.delete(sidecarKey(ownerId, fileId));
    await deps.store.delete(ciphertextKey(ownerId, fileId));
    return { ciphertext_size: stored };
  }
  await deps.files.clear(fileId, "error");
  await deps.staging.remove(fileId);
  return { ciphertext_size: stored };
}

/**
 * The number of this attempt, counting attempts whose worker died: BullMQ
 * counts those in `stalledCounter`, not in `attemptsMade`.
 */
export function attemptOf(job: Job): number {
  return job.attemptsMade + (job.stalledCounter ?? 0) + 1;
}

function isFinalAttempt(job: Job, error: unknown): boolean {
  return error instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/**
 * The reason a user reads. Our own unrecoverable errors are written for users;
 * anything else (an SDK or network error) may name internal hosts, so it is
 * summarised and only its class is logged.
 */
function reasonOf(error: unknown): string {
  if (error instanceof UnrecoverableError) return error.message;
  if (error instanceof ObjectStoreUnavailableError) return "The object store did not answer";
  return "The object store did not accept the encrypted file";
}

/**
 * Settles a file whose job will not run again: marks it `failed`, releases
 * the owner's bytes and removes the staged upload. Safe to call more than
 * once and from several places (processor, stalled-job handler): only the
 * call that makes the transition releases the quota.
 */
export async function failUpload(
  deps: Pick<UploadProcessorDeps, "files" | "staging" | "releaseBytes" | "metrics">,
  data: UploadJobData,
  reason: string,
): Promise<void> {
  const record = await deps.files.get(data.fileId);
  if (record?.owner === data.ownerId && await deps.files.failIfPending(data.fileId, reason)) {
    deps.metrics?.uploadsFailed.inc();
    await deps.releaseBytes(data.ownerId, record.size);
  }
  await deps.staging.remove(data.fileId);
}

/**
 * Processes one upload job.
 *
 * @param job The BullMQ job (data: file and owner ids).
 * @param deps Stores, staging, key ring and logger.
 * @returns The stored ciphertext size.
 * @throws The underlying error so BullMQ retries; after the last attempt (or an
 *   unrecoverable error) the record is `failed`, staging is removed and the
 *   owner's quota released before the error is rethrown.
 */
export async function processUpload(
  job: Job<UploadJobData>,
  deps: UploadProcessorDeps,
): Promise<UploadResult> {
  const { fileId, ownerId } = job.data;
  const record = await deps.files.get(fileId);
  if (!record || record.owner !== ownerId) {
    await deps.staging.remove(fileId);
    throw new UnrecoverableError("The file was deleted before it was stored");
  }
  if (record.status === "stored") return { ciphertext_size: record.ciphertext_size ?? 0 };
  if (record.status === "failed") {
    // Redelivered after the last attempt already failed it (and released its
    // bytes): failing it again would release the owner's quota twice.
    await deps.staging.remove(fileId);
    throw new UnrecoverableError(record.error ?? "The upload failed");
  }
  const started = performance.now();
  const attempt = attemptOf(job);
  deps.log.info("job.started", { file_id: fileId, attempt, bytes: record.size });
  try {
    await deps.files.update(fileId, { status: "encrypting", attempt });
    const result = await encryptAndStore(job, record, deps);
    const ms = performance.now() - started;
    deps.log.info("job.stored", { file_id: fileId, bytes: record.size, ms: Math.round(ms) });
    deps.metrics?.uploadsStored.inc();
    deps.metrics?.bytesEncrypted.inc(record.size);
    deps.metrics?.jobDuration.observe(ms / 1000);
    return result;
  } catch (error) {
    const reason = reasonOf(error);
    const cause = error instanceof Error ? error.name : "unknown";
    if (isFinalAttempt(job, error)) {
      deps.log.error("job.failed", { file_id: fileId, attempt, reason, cause });
      await failUpload(deps, job.data, reason);
    } else {
      deps.log.warn("job.retry", { file_id: fileId, attempt, reason, cause });
      deps.metrics?.uploadRetries.inc();
      await deps.files.update(fileId, { status: "queued", error: reason, attempt: attempt + 1 });
    }
    throw error;
  }
}
