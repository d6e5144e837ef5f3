/**
 * The janitor (worker role): every few minutes it removes staged files and
 * unfinished multipart uploads that are older than an hour and that no live
 * job owns — leftovers of crashed API processes, cancelled requests or
 * workers killed mid-upload. An upload of a live job is never aborted,
 * however long it has been running. A record still `queued` or `encrypting`
 * whose job is gone (its API died between saving the record and queueing the
 * job, or its worker between the last attempt and settling it) would never
 * move again: the janitor marks it `failed` and gives its bytes back. It also frees resumable (tus) uploads
 * that made no progress for `COFFER_UPLOAD_EXPIRY`: their staged bytes, their
 * quota hold and the upload itself; the staged file of an unexpired tus
 * upload is never touched, however old.
 */
import type { Queue } from "bullmq";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { FileStore } from "../storage/file_store.ts";
import type { ObjectStore } from "../storage/object_store.ts";
import { CIPHERTEXT_PREFIX, fileIdOfCiphertextKey } from "../storage/object_keys.ts";
import { freeUpload } from "../storage/free_upload.ts";
import type { StagingArea } from "../storage/staging.ts";
import type { UserStore } from "../storage/user_store.ts";
import { failUpload } from "./encrypt_upload.ts";
import type { UploadLocks } from "../storage/upload_lock.ts";
import type { UploadSlots } from "../storage/upload_slots.ts";
import type { UploadStore } from "../storage/upload_store.ts";
import type { UploadJobData } from "./queue.ts";

/** What the janitor looks at. */
export interface JanitorDeps {
  files: FileStore;
  store: ObjectStore;
  staging: StagingArea;
  queue: Queue<UploadJobData>;
  users: UserStore;
  uploads: UploadStore;
  uploadSlots: UploadSlots;
  uploadLocks: UploadLocks;
  log: Logger;
  metrics?: Metrics;
}

/** What a stranded record is failed with (users read it). */
export const INTERRUPTED_REASON = "The upload was interrupted; please upload the file again";
/** Expired tus uploads freed per sweep at most (the next sweep takes the rest). */
const EXPIRED_UPLOADS_PER_SWEEP = 1000;

/** Leftovers younger than this are never touched. */
export const JANITOR_MIN_AGE_MS = 60 * 60 * 1000;

const LIVE_STATES = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

async function ownedByLiveJob(deps: JanitorDeps, fileId: string): Promise<boolean> {
  if (await deps.uploads.get(fileId)) return true; // a tus upload's staging (freed on expiry below)
  const job = await deps.queue.getJob(fileId);
  return job !== undefined && LIVE_STATES.has(await job.getState());
}

/** Fails a record left pending with no live job; removes its staging either way. */
async function settleStranded(deps: JanitorDeps, fileId: string): Promise<void> {
  const record = await deps.files.get(fileId);
  if (record?.status === "queued" || record?.status === "encrypting") {
    deps.log.warn("janitor.stranded_upload", { file_id: fileId, status: record.status });
    const releaseBytes = async (owner: string, bytes: number) => {
      await deps.users.adjustUsedBytes(owner, -bytes);
    };
    await failUpload(
      { ...deps, releaseBytes },
      { fileId, ownerId: record.owner },
      INTERRUPTED_REASON,
    );
  }
  await deps.staging.remove(fileId);
}

/** Frees every tus upload whose expiry has passed; one that a request holds is left for later. */
async function freeExpiredUploads(deps: JanitorDeps, now: Date): Promise<number> {
  let freed = 0;
  for (const id of await deps.uploads.expiredIds(now.getTime(), EXPIRED_UPLOADS_PER_SWEEP)) {
    await using lock = await deps.uploadLocks.acquire(id, 0);
    if (!lock) continue;
    const upload = await deps.uploads.get(id);
    if (upload && upload.expiresAt > now.getTime()) continue; // it progressed meanwhile
    if (upload) await freeUpload(deps, upload);
    else await deps.uploads.remove(id); // an index entry without its upload
    freed++;
  }
  return freed;
}

/**
 * Runs one sweep.
 *
 * @param now The current time (injectable for tests).
 * @returns How many staged files, multipart uploads and expired tus uploads were removed.
 */
export async function sweep(
  deps: JanitorDeps,
  now = new Date(),
  minAgeMs = JANITOR_MIN_AGE_MS,
): Promise<{ staged: number; uploads: number; expired: number }> {
  const cutoff = now.getTime() - minAgeMs;
  const expired = await freeExpiredUploads(deps, now);
  let staged = 0;
  for (const file of await deps.staging.list()) {
    if (file.mtime.getTime() > cutoff || await ownedByLiveJob(deps, file.id)) continue;
    await settleStranded(deps, file.id);
    staged++;
  }
  // A live job's upload stays, however old: a large file on a slow link can
  // take longer than the age limit, and aborting it would fail every retry too.
  const uploads = await deps.store.abortUnfinishedUploads(
    CIPHERTEXT_PREFIX,
    new Date(cutoff),
    async (key) => {
      const fileId = fileIdOfCiphertextKey(key);
      return fileId !== undefined && await ownedByLiveJob(deps, fileId);
    },
  );
  if (staged + uploads + expired > 0) {
    deps.log.info("janitor.swept", { staged, uploads, expired_uploads: expired });
  }
  return { staged, uploads, expired };
}

/** How often and how old, for {@linkcode startJanitor}. */
export interface JanitorTiming {
  /** Time between sweeps; default 10 minutes. */
  intervalMs?: number;
  /** Leftovers younger than this are kept; default {@linkcode JANITOR_MIN_AGE_MS}. */
  minAgeMs?: number;
}

/**
 * Sweeps every `intervalMs` until disposed; a sweep still running when the
 * next is due is not doubled.
 */
export function startJanitor(deps: JanitorDeps, timing: JanitorTiming = {}): Disposable {
  const { intervalMs = 10 * 60 * 1000, minAgeMs = JANITOR_MIN_AGE_MS } = timing;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweep(deps, new Date(), minAgeMs)
      .catch((error) => deps.log.warn("janitor.failed", { error: String(error?.name) }))
      .finally(() => running = false);
  }, intervalMs);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
