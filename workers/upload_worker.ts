/**
 * Wires {@linkcode processUpload} to a BullMQ `Worker` on the upload queue:
 * concurrency from config, errors logged (never thrown into the void), and a
 * close that finishes running jobs or hands them back (`worker.close()`).
 */
import { Job, Worker } from "bullmq";
import type { Logger } from "../log.ts";
import { connectQueueRedis, queuePrefix } from "../storage/redis.ts";
import {
  attemptOf,
  failUpload,
  processUpload,
  type UploadProcessorDeps,
  type UploadResult,
} from "./encrypt_upload.ts";
import { UPLOAD_QUEUE, type UploadJobData } from "./queue.ts";

const INTERRUPTED = "The worker encrypting this upload stopped; it is being retried";

/**
 * How often a worker looks for jobs whose worker died. BullMQ moves such a
 * job once its lock has expired and a check has found it twice without
 * one, so with checks every quarter of the lock a dead worker's job is back
 * in the queue within about 1.5 × the lock duration (docs/OPERATIONS.md).
 *
 * @param lockMs The job lock duration (config `jobLockMs`).
 */
export function stalledIntervalMs(lockMs: number): number {
  return Math.max(250, Math.floor(lockMs / 4));
}

/** Options for {@linkcode startUploadWorker}. */
export interface UploadWorkerOptions {
  redisUrl: string;
  redisPrefix: string;
  concurrency: number;
  log: Logger;
  /** How long a job may go without a lock renewal before it counts as stalled. */
  lockDurationMs?: number;
}

/** A running worker; dispose to close it and its connection. */
export interface UploadWorker extends AsyncDisposable {
  worker: Worker<UploadJobData, UploadResult>;
}

/**
 * Starts consuming the upload queue.
 *
 * @param deps What the processor needs.
 * @param options Connection, concurrency and logger.
 */
export function startUploadWorker(
  deps: UploadProcessorDeps,
  options: UploadWorkerOptions,
): UploadWorker {
  const connection = connectQueueRedis(options.redisUrl);
  const lockMs = options.lockDurationMs ?? 30_000;
  const worker = new Worker<UploadJobData, UploadResult>(
    UPLOAD_QUEUE,
    (job) => processUpload(job, deps),
    {
      connection,
      prefix: queuePrefix(options.redisPrefix),
      concurrency: options.concurrency,
      lockDuration: lockMs,
      stalledInterval: stalledIntervalMs(lockMs),
      maxStalledCount: 5,
    },
  );
  worker.on("error", (error) => options.log.error("worker.error", { error: error.name }));
  // A job whose worker died goes back to the queue: say so on the record
  // (status `queued`, the next attempt's number) instead of leaving it
  // `encrypting` with frozen progress until a worker takes it up again.
  worker.on("stalled", async (jobId) => {
    try {
      const job = await Job.fromId<UploadJobData>(worker, jobId);
      if (!job) return;
      const interrupted = attemptOf(job) - 1;
      if (await deps.files.requeueInterrupted(job.data.fileId, interrupted, INTERRUPTED)) {
        options.log.warn("job.interrupted", { file_id: job.data.fileId, attempt: interrupted });
      }
    } catch (error) {
      options.log.error("worker.requeue_failed", { file_id: jobId, error: (error as Error).name });
    }
  });
  // A job BullMQ fails on its own (stalled too often: its workers kept dying)
  // never reaches the processor's last-attempt handling; settle it here.
  // A no-op when the processor already settled the file.
  worker.on("failed", async (job) => {
    try {
      if (job && await job.getState() === "failed") {
        await failUpload(deps, job.data, "The upload was interrupted too many times");
      }
    } catch (error) {
      options.log.error("worker.settle_failed", {
        file_id: job?.data.fileId,
        error: (error as Error).name,
      });
    }
  });
  return {
    worker,
    [Symbol.asyncDispose]: async () => {
      await worker.close();
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
