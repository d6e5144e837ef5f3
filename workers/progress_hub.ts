/**
 * One BullMQ `QueueEvents` subscription per API process, fanned out to any
 * number of listeners by file id — so a thousand open progress streams cost
 * one Redis connection, not a thousand.
 */
import { QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import { connectQueueRedis, queuePrefix } from "../storage/redis.ts";
import { UPLOAD_QUEUE } from "./queue.ts";

/** Something happened to a job: it started, progressed, completed or failed. */
export type JobSignal = "active" | "progress" | "completed" | "failed";

type Listener = (signal: JobSignal) => void;

/** Fans queue events out to listeners keyed by job (file) id. */
export class ProgressHub implements AsyncDisposable {
  #connection: Redis;
  #events: QueueEvents;
  #listeners = new Map<string, Set<Listener>>();

  /** Subscribes with a connection of its own (QueueEvents blocks on it). */
  constructor(redisUrl: string, prefix: string) {
    this.#connection = connectQueueRedis(redisUrl);
    const connection = this.#connection;
    this.#events = new QueueEvents(UPLOAD_QUEUE, { connection, prefix: queuePrefix(prefix) });
    this.#events.on("error", () => {});
    for (const signal of ["active", "progress", "completed", "failed"] as const) {
      this.#events.on(signal, ({ jobId }: { jobId: string }) => this.#emit(jobId, signal));
    }
  }

  #emit(jobId: string, signal: JobSignal) {
    for (const listener of this.#listeners.get(jobId) ?? []) listener(signal);
  }

  /** Resolves once the subscription is live. */
  async ready(): Promise<void> {
    await this.#events.waitUntilReady();
  }

  /**
   * Calls `listener` on every event of one file's job until the returned
   * function is called.
   */
  subscribe(fileId: string, listener: Listener): () => void {
    const set = this.#listeners.get(fileId) ?? new Set();
    set.add(listener);
    this.#listeners.set(fileId, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(fileId);
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listeners.clear();
    await this.#events.close();
    await this.#connection.quit().catch(() => this.#connection.disconnect());
  }
}
