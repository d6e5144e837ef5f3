/**
 * The logout deny-list: `revoked:<jti>` keys in Redis that live as long as
 * the token could still be accepted, i.e. until `exp` plus the clock
 * tolerance. After that the token fails on its own and the key is gone.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { CLOCK_TOLERANCE_SECONDS } from "./tokens.ts";

/**
 * Revoked token ids, kept in Redis.
 *
 * @example
 * ```ts
 * const revocations = new Revocations(services.redis);
 * await revocations.revoke(user.jti, user.exp);
 * await revocations.isRevoked(user.jti); // true
 * ```
 */
export class Revocations {
  /** @param redis The metadata connection (keys under the deployment prefix). */
  constructor(private readonly redis: Redis) {}

  /**
   * Refuses a token from now on.
   *
   * @param jti The token id.
   * @param exp The token's expiry, seconds since the epoch.
   * @param now The current time (tests inject it).
   */
  async revoke(jti: string, exp: number, now: Date = new Date()): Promise<void> {
    const seconds = exp + CLOCK_TOLERANCE_SECONDS - Math.floor(now.getTime() / 1000);
    if (seconds <= 0) return; // already unacceptable
    await this.redis.set(`revoked:${jti}`, "1", "EX", seconds);
  }

  /** Tells whether a token id was revoked. */
  async isRevoked(jti: string): Promise<boolean> {
    return (await this.redis.exists(`revoked:${jti}`)) === 1;
  }
}
