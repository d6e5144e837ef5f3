/**
 * Fixed-window counters in Redis for login and registration throttling.
 *
 * Sign-in limits never let one client lock another out: failures are refused
 * per (username, client address) and per client address, so only an address
 * that has itself failed repeatedly is refused. The count per username from
 * anywhere only slows answers, by a bounded delay
 * ({@linkcode slowdownMs}): refusing on it would let anyone lock any account
 * by guessing wrong ten times.
 *
 * Each limiter counts events per subject (a username, a client address, or
 * both) under `ratelimit:<name>:<subject>`; the key expires when its window ends,
 * and the first event after that opens a new window. Counting and setting the
 * expiry run in one Lua script, so concurrent requests never leave a counter
 * without an expiry. Attempts are counted before the work they guard
 * ({@linkcode RateLimiter.consume}), so concurrent requests cannot slip past
 * the limit; an attempt that turns out fine is given back
 * ({@linkcode RateLimiter.refund}, {@linkcode RateLimiter.reset}). A refused
 * request is a 429 problem whose `Retry-After` is the time left in the window.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { CofferError } from "../errors.ts";

/** At most `limit` events per subject in any window of `windowMs`. */
export interface RateLimitRule {
  limit: number;
  windowMs: number;
}

/** How answers are slowed once a count passes its limit. */
export interface SlowdownRule {
  /** Extra delay per event beyond the limit. */
  stepMs: number;
  /** The longest delay, however many events. */
  maxMs: number;
}

/** The limits the auth routes apply. */
export interface RateLimitSettings {
  /** Failed logins for one username from one client address: refused beyond this. */
  loginFailuresPerUsernameAndAddress: RateLimitRule;
  /** Failed logins from one client address (any username): refused beyond this. */
  loginFailuresPerAddress: RateLimitRule;
  /** Failed logins for one username from anywhere: slowed (never refused) beyond this. */
  loginFailuresPerUsername: RateLimitRule;
  /** The delay for logins beyond {@linkcode RateLimitSettings.loginFailuresPerUsername}. */
  loginSlowdown: SlowdownRule;
  /** Registration attempts from one client address. */
  registrationsPerAddress: RateLimitRule;
}

/** Production defaults. */
export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  loginFailuresPerUsernameAndAddress: { limit: 10, windowMs: 15 * 60_000 },
  loginFailuresPerAddress: { limit: 50, windowMs: 15 * 60_000 },
  loginFailuresPerUsername: { limit: 10, windowMs: 15 * 60_000 },
  loginSlowdown: { stepMs: 200, maxMs: 2000 },
  registrationsPerAddress: { limit: 20, windowMs: 60 * 60_000 },
};

/**
 * Checks a slowdown rule: two whole numbers of milliseconds, at least 0.
 *
 * @throws {RangeError} naming the first field that is not.
 */
export function checkSlowdownRule(slowdown: SlowdownRule): SlowdownRule {
  for (const [field, value] of Object.entries(slowdown)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`Cannot use login slowdown: ${field} must be a whole number ≥ 0`);
    }
  }
  return slowdown;
}

/**
 * The delay for the `count`-th event of a window: none up to the limit, then
 * `stepMs` more per event, never more than `maxMs`.
 *
 * @example
 * ```ts
 * slowdownMs(12, { limit: 10, windowMs: 900_000 }, { stepMs: 200, maxMs: 2000 }); // 400
 * ```
 */
export function slowdownMs(count: number, rule: RateLimitRule, slowdown: SlowdownRule): number {
  return count <= rule.limit ? 0 : Math.min(slowdown.maxMs, slowdown.stepMs * (count - rule.limit));
}

// INCR, then make sure the key expires at the end of its window; returns {count, ms left}.
const HIT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {count, ttl}`;

// Gives back one event of the current window (a login that turned out to succeed).
const REFUND = `
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then
  redis.call('DECR', KEYS[1])
end
return {0, 0}`;

/**
 * One named limit over Redis.
 *
 * @example
 * ```ts
 * const perUser = new RateLimiter(redis, "login-user", { limit: 10, windowMs: 900_000 });
 * await perUser.consume("alice"); // the 11th attempt in a window throws RATE_LIMITED
 * // … the password was right after all:
 * await perUser.reset("alice");
 * ```
 */
export class RateLimiter {
  /**
   * @param redis The metadata connection.
   * @param name Distinguishes this limiter's keys from others'.
   * @param rule The limit and window.
   * @throws {RangeError} if the rule is not two positive integers.
   */
  constructor(
    private readonly redis: Redis,
    readonly name: string,
    readonly rule: RateLimitRule,
  ) {
    for (const [field, value] of Object.entries(rule)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(
          `Cannot create rate limiter ${name}: ${field} must be a positive integer`,
        );
      }
    }
  }

  private key(subject: string): string {
    return `ratelimit:${this.name}:${subject}`;
  }

  private refuse(msLeft: number): never {
    const seconds = Math.max(1, Math.ceil(msLeft / 1000));
    throw new CofferError("RATE_LIMITED", `Try again in ${seconds} s`, {
      headers: { "Retry-After": String(seconds) },
    });
  }

  private async run(script: string, subject: string): Promise<[number, number]> {
    const [count, ttl] = await this.redis.eval(
      script,
      1,
      this.key(subject),
      this.rule.windowMs,
    ) as [number, number];
    return [count, ttl];
  }

  /**
   * Counts one event and refuses it if it is over the limit.
   *
   * @throws {CofferError} `RATE_LIMITED` with `Retry-After`.
   */
  async consume(subject: string): Promise<void> {
    const [count, ttl] = await this.run(HIT, subject);
    if (count > this.rule.limit) this.refuse(ttl);
  }

  /**
   * Counts one event without refusing it.
   *
   * @returns The number of events in the subject's window, this one included.
   */
  async count(subject: string): Promise<number> {
    const [count] = await this.run(HIT, subject);
    return count;
  }

  /** Takes back one event counted by {@linkcode consume} (its window is unchanged). */
  async refund(subject: string): Promise<void> {
    await this.run(REFUND, subject);
  }

  /** Forgets the subject's events (e.g. after a successful login). */
  async reset(subject: string): Promise<void> {
    await this.redis.del(this.key(subject));
  }
}
