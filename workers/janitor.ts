/**
 * The janitor (worker role): every few minutes it removes staged files and
 * unfinished multipart uploads that are older than an hour and that no live
 * job owns — leftovers of crashed API processes, cancelled requests or
 * workers killed mid-upload. An upload of a live job is never aborted,
 * however long it has been running. A record still `queued` or `encrypting`
 * whose job is gone (its API died between saving the record and queueing the
 * job, or its worker between the last attempt and settling it) would never
 * move again: the janitor marks it `failed` and gives its bytes back.
 */
import type { Queue } from "bullmq";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { FileStore } from "../storage/file_store.ts";
import type { ObjectStore } from "../storage/object_store.ts";
import { CIPHERTEXT_PREFIX, fileIdOfCiphertextKey } from "../storage/object_keys.ts";
import type { StagingArea } from "../storage/staging.ts";
import type { UserStore } from "../storage/user_store.ts";
import { failUpload } from "./encrypt_upload.ts";
import type { UploadJobData } from "./queue.ts";

/** What the janitor looks at. */
export interface JanitorDeps {
  files: FileStore;
  store: ObjectStore;
  staging: StagingArea;
  queue: Queue<UploadJobData>;
  users: UserStore;
  log: Logger;
  metrics?: Metrics;
}

/** What a stranded record is failed with (users read it). */
export const INTERRUPTED_REASON = "The upload was interrupted; please upload the file again";

/** Leftovers younger than this are never touched. */
export const JANITOR_MIN_AGE_MS = 60 * 60 * 1000;

const LIVE_STATES = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

async function ownedByLiveJob(deps: JanitorDeps, fileId: string): Promise<boolean> {
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

/**
 * Runs one sweep.
 *
 * @param now The current time (injectable for tests).
 * @returns How many staged files and multipart uploads were removed.
 */
export async function sweep(
  deps: JanitorDeps,
  now = new Date(),
  minAgeMs = JANITOR_MIN_AGE_MS,
): Promise<{ staged: number; uploads: number }> {
  const cutoff = now.getTime() - minAgeMs;
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
  if (staged + uploads > 0) deps.log.info("janitor.swept", { staged, uploads });
  return { staged, uploads };
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
