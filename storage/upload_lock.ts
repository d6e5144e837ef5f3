/**
 * One lock per resumable upload, in Redis, so that two requests writing the
 * same upload never interleave, whichever API processes receive them (a load
 * balancer without sticky sessions over a shared staging volume).
 *
 * A lock is a key set with NX and a random token; its holder refreshes it
 * while the request runs and deletes it (if still its own) when done, so a
 * lock of a process that died frees itself {@linkcode LOCK_TTL_MS} later.
 * A waiter polls for a bounded time: a client that retries at once after a
 * dropped connection usually finds the old request gone within a second.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { uploadLockKey } from "./upload_store.ts";

/** How long a lock outlives its last refresh. */
export const LOCK_TTL_MS = 30_000;

const POLL_MS = 50;

// KEYS: lock. ARGV: token.
const RELEASE =
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
// KEYS: lock. ARGV: token, ttl.
const REFRESH =
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

/** A held lock; dispose it to release it. */
export interface UploadLock extends AsyncDisposable {
  /** The token the store's `advance` checks. */
  readonly token: string;
}

/**
 * The upload locks of a deployment.
 *
 * @example
 * ```ts
 * await using lock = await locks.acquire(uploadId, 5000);
 * if (!lock) throw new CofferError("UPLOAD_LOCKED");
 * ```
 */
export class UploadLocks {
  /**
   * @param redis The metadata connection.
   * @param ttlMs How long a lock outlives its last refresh (tests shorten it).
   */
  constructor(private readonly redis: Redis, private readonly ttlMs = LOCK_TTL_MS) {}

  /**
   * Takes the lock of upload `id`, waiting up to `waitMs` for its holder.
   *
   * @returns The lock, or `undefined` if it stayed held.
   */
  async acquire(id: string, waitMs: number): Promise<UploadLock | undefined> {
    const key = uploadLockKey(id);
    const token = crypto.randomUUID();
    const deadline = Date.now() + waitMs;
    while (await this.redis.set(key, token, "PX", this.ttlMs, "NX") !== "OK") {
      if (Date.now() >= deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const timer = setInterval(() => {
      this.redis.eval(REFRESH, 1, key, token, this.ttlMs).catch(() => {});
    }, Math.max(10, Math.floor(this.ttlMs / 3)));
    Deno.unrefTimer(timer);
    let released = false;
    return {
      token,
      [Symbol.asyncDispose]: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        await this.redis.eval(RELEASE, 1, key, token);
      },
    };
  }
}
