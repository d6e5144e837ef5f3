/**
 * The janitor (worker role): every few minutes it removes staged files and
 * unfinished multipart uploads that are older than an hour and that no live
 * job owns — leftovers of crashed API processes, cancelled requests or
 * workers killed mid-upload. An upload of a live job is never aborted,
 * however long it has been running.
 */
import type { Queue } from "bullmq";
import type { Logger } from "../log.ts";
import type { FileStore } from "../storage/file_store.ts";
import type { ObjectStore } from "../storage/object_store.ts";
import { CIPHERTEXT_PREFIX, fileIdOfCiphertextKey } from "../storage/object_keys.ts";
import type { StagingArea } from "../storage/staging.ts";
import type { UploadJobData } from "./queue.ts";

/** What the janitor looks at. */
export interface JanitorDeps {
  files: FileStore;
  store: ObjectStore;
  staging: StagingArea;
  queue: Queue<UploadJobData>;
  log: Logger;
}

/** Leftovers younger than this are never touched. */
export const JANITOR_MIN_AGE_MS = 60 * 60 * 1000;

const LIVE_STATES = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

async function ownedByLiveJob(deps: JanitorDeps, fileId: string): Promise<boolean> {
  const job = await deps.queue.getJob(fileId);
  if (job && LIVE_STATES.has(await job.getState())) return true;
  const record = await deps.files.get(fileId);
  return record?.status === "queued" || record?.status === "encrypting";
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
    await deps.staging.remove(file.id);
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

/**
 * Sweeps every `intervalMs` until disposed.
 */
export function startJanitor(deps: JanitorDeps, intervalMs = 10 * 60 * 1000): Disposable {
  const timer = setInterval(() => {
    sweep(deps).catch((error) => deps.log.warn("janitor.failed", { error: String(error?.name) }));
  }, intervalMs);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
