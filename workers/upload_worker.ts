/**
 * Wires {@linkcode processUpload} to a BullMQ `Worker` on the upload queue:
 * concurrency from config, errors logged (never thrown into the void), and a
 * close that finishes running jobs or hands them back (`worker.close()`).
 */
import { Worker } from "bullmq";
import type { Logger } from "../log.ts";
import { connectQueueRedis, queuePrefix } from "../storage/redis.ts";
import {
  failUpload,
  processUpload,
  type UploadProcessorDeps,
  type UploadResult,
} from "./encrypt_upload.ts";
import { UPLOAD_QUEUE, type UploadJobData } from "./queue.ts";

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
  const worker = new Worker<UploadJobData, UploadResult>(
    UPLOAD_QUEUE,
    (job) => processUpload(job, deps),
    {
      connection,
      prefix: queuePrefix(options.redisPrefix),
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: Math.min(30_000, options.lockDurationMs ?? 30_000),
      maxStalledCount: 5,
    },
  );
  worker.on("error", (error) => options.log.error("worker.error", { error: error.name }));
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
