/**
 * The upload queue: its name, job data and retry policy. The API adds one job
 * per staged file with the file id as job id (so a duplicate add is a no-op);
 * job data carries ids only — never keys, names or file bytes, because
 * BullMQ keeps it in Redis in clear text.
 */
import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { queuePrefix } from "../storage/redis.ts";

/** The queue every API process adds to and every worker consumes. */
export const UPLOAD_QUEUE = "uploads";

/** What a job carries: ids only. */
export interface UploadJobData {
  fileId: string;
  ownerId: string;
}

/** Progress a worker reports with `job.updateProgress`. */
export interface UploadProgress {
  bytes_done: number;
  bytes_total: number;
}

/**
 * Attempts of an upload job. With the default backoff the retries wait up to
 * 1 s, 2 s, … 64 s — about two minutes in all — so an upload outlives a short
 * object-store outage or restart instead of failing within seconds.
 */
export const UPLOAD_ATTEMPTS = 8;

/**
 * Share of each retry delay drawn at random (BullMQ's `jitter`): a delay of
 * d waits between d/2 and d, so uploads that failed together in one outage
 * do not all come back in the same instant.
 */
export const UPLOAD_BACKOFF_JITTER = 0.5;

/**
 * {@linkcode UPLOAD_ATTEMPTS} attempts with exponential backoff and jitter.
 *
 * @param backoffMs The first retry delay (config `jobBackoffMs`).
 */
export function uploadJobOptions(backoffMs = 1000) {
  return {
    attempts: UPLOAD_ATTEMPTS,
    backoff: { type: "exponential", delay: backoffMs, jitter: UPLOAD_BACKOFF_JITTER },
    removeOnComplete: { age: 3600, count: 10000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  } as const;
}

/**
 * Creates the producer side of the upload queue.
 *
 * @param connection A BullMQ connection (`connectQueueRedis`).
 * @param prefix The deployment's Redis prefix.
 * @param backoffMs The first retry delay of a failed job (config `jobBackoffMs`).
 */
export function createUploadQueue(
  connection: Redis,
  prefix: string,
  backoffMs = 1000,
): Queue<UploadJobData> {
  return new Queue<UploadJobData>(UPLOAD_QUEUE, {
    connection,
    prefix: queuePrefix(prefix),
    defaultJobOptions: uploadJobOptions(backoffMs),
  });
}

/** Adds the job for a staged file; adding the same file twice is a no-op. */
export async function enqueueUpload(
  queue: Queue<UploadJobData>,
  data: UploadJobData,
): Promise<void> {
  await queue.add("encrypt-and-store", data, { jobId: data.fileId });
}
