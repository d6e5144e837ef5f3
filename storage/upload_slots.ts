/**
 * Uploads in progress, per user, in Redis: how many a user has open at once
 * and how many bytes each has reserved against the user's quota before
 * staging them. Every decision is one Lua script, so many API processes
 * sharing one Redis never let a user past the limit or the quota.
 *
 * Redis layout (under the deployment prefix):
 *
 * ```
 * uploads:<user>        sorted set: slot id → expiry (ms, Redis clock)
 * upload_bytes:<user>   hash: slot id → bytes reserved, not yet used
 * upload_held:<user>    hash: resumable upload id → bytes held for it between requests
 * user:<user>           the account hash (storage/user_store.ts): used_bytes, quota_bytes
 * ```
 *
 * A user's free quota is `quota_bytes − used_bytes − Σ reserved − Σ held`.
 * A resumable (tus) upload holds its whole declared length from creation
 * until it completes, is terminated or expires ({@linkcode UploadSlots.hold}):
 * that hold outlives any one request, so it does not expire with a slot; the
 * upload's own expiry (the janitor) releases it. A slot
 * lives while its request does: it is released on every exit path, and a
 * holder refreshes its expiry while it lives, so a slot (and its bytes) of a
 * process that died is dropped its TTL later (`COFFER_UPLOAD_SLOT_TTL_SECONDS`)
 * by the next script that looks at that user.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { newId } from "./ids.ts";
import { userKey } from "./user_store.ts";

const HELPERS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function prune(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
  for _, id in ipairs(expired) do redis.call('HDEL', KEYS[2], id) end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end
end
local function keep(now, slot, ttl)
  redis.call('ZADD', KEYS[1], now + ttl, slot)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local function live(now, slot)
  local expiry = redis.call('ZSCORE', KEYS[1], slot)
  return expiry and tonumber(expiry) > now
end
local function free_bytes()
  local user = redis.call('HMGET', KEYS[3], 'used_bytes', 'quota_bytes')
  if not user[1] then return nil end
  local free = tonumber(user[2]) - tonumber(user[1])
  for _, bytes in ipairs(redis.call('HVALS', KEYS[2])) do free = free - tonumber(bytes) end
  for _, bytes in ipairs(redis.call('HVALS', KEYS[4])) do free = free - tonumber(bytes) end
  return free
end
`;

// KEYS: slots, reserved. ARGV: slot, limit, ttl. Returns 1 if opened, 0 if the user is at the limit.
const ACQUIRE = `${HELPERS}
local now = now_ms()
prune(now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 0)
keep(now, ARGV[1], tonumber(ARGV[3]))
return 1`;

// KEYS: slots, reserved, user, held. ARGV: slot, need, want, ttl.
// Reserves at least need and at most want bytes (as many as are free).
// Returns the bytes granted, or -1 (slot expired), -2 (no such user), -3 (over quota).
const RESERVE = `${HELPERS}
local now = now_ms()
if not live(now, ARGV[1]) then return -1 end
prune(now)
local free = free_bytes()
if not free then return -2 end
local need, want = tonumber(ARGV[2]), tonumber(ARGV[3])
if free < need then return -3 end
local grant = math.max(need, math.min(want, free))
redis.call('HINCRBY', KEYS[2], ARGV[1], grant)
keep(now, ARGV[1], tonumber(ARGV[4]))
return grant`;

// KEYS: slots, reserved, user, held. ARGV: slot, bytes.
// Turns reserved bytes into used bytes. A slot that expired meanwhile lost its
// reservation: its bytes are then taken only if they still fit the quota.
// Returns 1, or 0 (over quota), or -2 (no such user).
const COMMIT = `${HELPERS}
local now = now_ms()
if redis.call('EXISTS', KEYS[3]) == 0 then return -2 end
local bytes = tonumber(ARGV[2])
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if live(now, ARGV[1]) and held >= bytes then
  -- (0 - bytes, not -bytes: Lua prints -0 for 0, which HINCRBY refuses)
  redis.call('HINCRBY', KEYS[2], ARGV[1], 0 - bytes)
else
  prune(now)
  if free_bytes() < bytes then return 0 end
end
redis.call('HINCRBY', KEYS[3], 'used_bytes', bytes)
return 1`;

// KEYS: slots, reserved, user, held. ARGV: upload, bytes.
// Holds bytes for a resumable upload. Returns 1, -2 (no such user) or -3 (over quota).
const HOLD = `${HELPERS}
local now = now_ms()
prune(now)
local free = free_bytes()
if not free then return -2 end
if free < tonumber(ARGV[2]) then return -3 end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
return 1`;

// KEYS: slots, reserved, user, held. ARGV: upload, bytes.
// Turns a resumable upload's hold into used bytes. A hold that was released
// meanwhile (the upload expired) is taken only if the bytes still fit.
// Returns 1, 0 (over quota) or -2 (no such user).
const COMMIT_HOLD = `${HELPERS}
local now = now_ms()
if redis.call('EXISTS', KEYS[3]) == 0 then return -2 end
local bytes = tonumber(ARGV[2])
local held = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '-1')
if held < bytes then
  prune(now)
  if free_bytes() + math.max(held, 0) < bytes then return 0 end
end
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'used_bytes', bytes)
return 1`;

// KEYS: slots, reserved. ARGV: slot, ttl.
const REFRESH = `${HELPERS}
local now = now_ms()
if live(now, ARGV[1]) then keep(now, ARGV[1], tonumber(ARGV[2])) end
return 1`;

// KEYS: slots, reserved. ARGV: slot.
const RELEASE =
  `redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('HDEL', KEYS[2], ARGV[1]) return 1`;

/** Why a reservation was refused. */
export type ReserveRefusal = "over-quota" | "slot-expired" | "no-user";

const REFUSALS: Record<number, ReserveRefusal> = {
  [-1]: "slot-expired",
  [-2]: "no-user",
  [-3]: "over-quota",
};

const HOLD_REFUSALS: Record<number, ReserveRefusal> = { [-2]: "no-user", [-3]: "over-quota" };

/** Options for {@linkcode UploadSlots}. */
export interface UploadSlotsOptions {
  /** Uploads one user may have open at once (config `maxConcurrentUploads`). */
  limit: number;
  /**
   * How long a slot (and its reservation) outlives its last refresh; a holder
   * refreshes it every third of this (config `uploadSlotTtlSeconds`).
   */
  ttlMs: number;
}

/**
 * The per-user upload slots of a deployment.
 *
 * @example
 * ```ts
 * const slots = new UploadSlots(redis, {
 *   limit: config.maxConcurrentUploads,
 *   ttlMs: config.uploadSlotTtlSeconds * 1000,
 * });
 * await using slot = await slots.acquire(userId);
 * if (!slot) throw new CofferError("TOO_MANY_UPLOADS");
 * ```
 */
export class UploadSlots {
  /**
   * @param redis The metadata connection (keys under the deployment prefix).
   * @param options The per-user limit and the slot TTL.
   */
  constructor(private readonly redis: Redis, private readonly options: UploadSlotsOptions) {}

  /**
   * Opens a slot for one upload request of `userId`.
   *
   * @returns The slot (dispose it to release it), or `undefined` when the
   *   user already has `limit` uploads open.
   */
  async acquire(userId: string): Promise<UploadSlot | undefined> {
    const keys = slotKeys(userId);
    const id = newId();
    const opened = await this.redis.eval(
      ACQUIRE,
      2,
      keys[0],
      keys[1],
      id,
      this.options.limit,
      this.options.ttlMs,
    );
    return opened === 1 ? new UploadSlot(this.redis, keys, id, this.options.ttlMs) : undefined;
  }

  /**
   * Holds `bytes` of `userId`'s quota for resumable upload `uploadId`, across
   * requests and processes, until {@linkcode commitHold} or {@linkcode releaseHold}.
   * Holding takes no slot: only requests in progress count against the limit.
   *
   * @returns `undefined` when held, or why not.
   */
  async hold(userId: string, uploadId: string, bytes: number): Promise<ReserveRefusal | undefined> {
    const result = await this.redis.eval(HOLD, 4, ...slotKeys(userId), uploadId, bytes) as number;
    return result === 1 ? undefined : HOLD_REFUSALS[result];
  }

  /**
   * Turns the hold of a completed upload into `bytes` used bytes.
   *
   * @returns False if the hold was gone and the bytes no longer fit the quota.
   */
  async commitHold(userId: string, uploadId: string, bytes: number): Promise<boolean> {
    return await this.redis.eval(COMMIT_HOLD, 4, ...slotKeys(userId), uploadId, bytes) === 1;
  }

  /** Drops a resumable upload's hold (terminated or expired); a missing one is fine. */
  async releaseHold(userId: string, uploadId: string): Promise<void> {
    await this.redis.hdel(slotKeys(userId)[3], uploadId);
  }

  /** Bytes `userId` holds for resumable uploads now. */
  async heldBytes(userId: string): Promise<number> {
    const values = await this.redis.hvals(slotKeys(userId)[3]);
    return values.reduce((sum, value) => sum + Number(value), 0);
  }

  /** How many uploads `userId` has open now (expired slots not counted). */
  async openCount(userId: string): Promise<number> {
    const now = Number((await this.redis.time())[0]) * 1000;
    return await this.redis.zcount(slotKeys(userId)[0], `(${now}`, "+inf");
  }
}

type SlotKeys = [slots: string, reserved: string, user: string, held: string];

function slotKeys(userId: string): SlotKeys {
  return [`uploads:${userId}`, `upload_bytes:${userId}`, userKey(userId), `upload_held:${userId}`];
}

/**
 * One open upload: a slot under the user's limit plus the bytes it holds
 * against the quota. `held` bytes are reserved in Redis; `inUse` of them
 * cover bytes staged and not yet committed.
 */
export class UploadSlot implements AsyncDisposable {
  #held = 0;
  #inUse = 0;
  #released = false;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: SlotKeys,
    readonly id: string,
    private readonly ttlMs: number,
  ) {
    this.#timer = setInterval(() => {
      this.redis.eval(REFRESH, 2, keys[0], keys[1], id, ttlMs).catch(() => {});
    }, Math.max(10, Math.floor(ttlMs / 3)));
    Deno.unrefTimer(this.#timer);
  }

  /**
   * Covers `bytes` more staged bytes with reserved ones, reserving more when
   * what the slot holds is not enough (at least the shortfall, up to
   * `ahead` bytes, so a stream need not ask for every chunk).
   *
   * @returns `undefined` when covered, or why the quota refused.
   */
  async cover(bytes: number, ahead = 0): Promise<ReserveRefusal | undefined> {
    const shortfall = this.#inUse + bytes - this.#held;
    if (shortfall > 0) {
      const refusal = await this.reserve(shortfall, Math.max(shortfall, ahead));
      if (refusal) return refusal;
    }
    this.#inUse += bytes;
    return undefined;
  }

  /**
   * Reserves between `need` and `want` bytes (as many as are free) for this slot.
   *
   * @returns `undefined` when reserved, or why not.
   */
  async reserve(need: number, want = need): Promise<ReserveRefusal | undefined> {
    const granted = await this.redis.eval(
      RESERVE,
      4,
      ...this.keys,
      this.id,
      need,
      want,
      this.ttlMs,
    ) as number;
    if (granted < 0) return REFUSALS[granted];
    this.#held += granted;
    return undefined;
  }

  /**
   * Turns `bytes` covered bytes into the user's used bytes (a file staged in full).
   *
   * @returns False if the slot had expired and the bytes no longer fit the quota.
   */
  async commit(bytes: number): Promise<boolean> {
    const done = await this.redis.eval(COMMIT, 4, ...this.keys, this.id, bytes);
    this.#inUse = Math.max(0, this.#inUse - bytes);
    this.#held = Math.max(0, this.#held - bytes);
    return done === 1;
  }

  /** Gives back covered bytes that were not kept (a part that failed), keeping them reserved. */
  uncover(bytes: number): void {
    this.#inUse = Math.max(0, this.#inUse - bytes);
  }

  /** Closes the slot and drops what it still reserves. Safe to call twice. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    await this.redis.eval(RELEASE, 2, this.keys[0], this.keys[1], this.id);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
