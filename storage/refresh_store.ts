/**
 * Refresh tokens, rotated on every use, with reuse detection (SPEC section 11,
 * after the OAuth 2.0 Security BCP, RFC 9700 §4.14).
 *
 * A sign-in starts a *family* (its id is the access tokens' `sid` claim). A
 * refresh token is `crt_` + 43 base64url characters (256 random bits); Redis
 * keeps only its SHA-256, so a copy of the database opens no session.
 *
 * Redis layout (under the deployment prefix):
 *
 * ```
 * refresh:<sha256 hex>      hash: user, family, state (live|spent), exp (ms);
 *                           expires at exp
 * session-revoked:<family>  "1" once the family is revoked, for as long as any
 *                           of its refresh or access tokens could be presented
 * ```
 *
 * Rotation is one Lua script: it checks the presented token (live, unexpired,
 * family not revoked), marks it spent and writes its successor, so of two API
 * processes given the same token at once exactly one succeeds. A token that
 * is presented again after it was spent means two parties hold the family —
 * the script revokes the whole family in the same step. A spent token stays
 * in Redis until its own expiry so that reuse can still be recognised.
 *
 * Every refresh gives the new token the full lifetime (a sliding session):
 * a session lasts while it is used at least once per lifetime.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { newId } from "./ids.ts";

/** What a refresh token looks like; anything else is refused unread. */
export const REFRESH_TOKEN_PATTERN = /^crt_[A-Za-z0-9_-]{43}$/;

/** A new refresh token and the family it belongs to. */
export interface IssuedRefreshToken {
  token: string;
  family: string;
  /** Seconds until it expires. */
  expiresIn: number;
}

/** Why a refresh token was refused (for the log only: clients get one answer). */
export type RefusalReason = "malformed" | "unknown" | "expired" | "revoked" | "reused";

/** The outcome of {@linkcode RefreshStore.rotate}. */
export type RotateOutcome =
  | { ok: true; userId: string; next: IssuedRefreshToken }
  | { ok: false; reason: RefusalReason; userId?: string; family?: string };

/** The lifetimes a {@linkcode RefreshStore} works with. */
export interface RefreshLifetimes {
  /** A refresh token's lifetime (`COFFER_REFRESH_TTL`). */
  refreshTtlSeconds: number;
  /** An access token's lifetime (`COFFER_TOKEN_TTL`): a revocation outlives both. */
  tokenTtlSeconds: number;
}

/** Kept past the longest lifetime, so clock skew never revives a revoked family. */
const REVOCATION_MARGIN_SECONDS = 120;

// KEYS: old token, family revocation marker, new token.
// ARGV: family read beforehand, now (ms), new expiry (ms), revocation seconds, new token's user.
const ROTATE = `
local family, state, user, exp = unpack(redis.call('HMGET', KEYS[1], 'family', 'state', 'user', 'exp'))
if not family or family ~= ARGV[1] then return {'unknown', ''} end
if tonumber(exp) <= tonumber(ARGV[2]) then return {'expired', user} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'revoked', user} end
if state ~= 'live' then
  redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[4]))
  return {'reused', user}
end
redis.call('HSET', KEYS[1], 'state', 'spent')
redis.call('HSET', KEYS[3], 'user', user, 'family', family, 'state', 'live', 'exp', ARGV[3])
redis.call('PEXPIREAT', KEYS[3], tonumber(ARGV[3]))
return {'rotated', user}`;

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

function newRefreshToken(): string {
  return `crt_${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

async function tokenKey(token: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)),
  );
  return `refresh:${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function revokedKey(family: string): string {
  return `session-revoked:${family}`;
}

/**
 * Refresh-token families in Redis.
 *
 * @example
 * ```ts
 * const refresh = new RefreshStore(redis, { refreshTtlSeconds: 1_209_600, tokenTtlSeconds: 3600 });
 * const first = await refresh.start(user.id);
 * const outcome = await refresh.rotate(first.token); // {ok: true, next: {...}}
 * await refresh.rotate(first.token); // {ok: false, reason: "reused"}; the family is revoked
 * ```
 */
export class RefreshStore {
  readonly #revocationSeconds: number;

  /**
   * @param redis The metadata connection.
   * @param lifetimes The configured lifetimes.
   */
  constructor(private readonly redis: Redis, private readonly lifetimes: RefreshLifetimes) {
    this.#revocationSeconds = Math.max(lifetimes.refreshTtlSeconds, lifetimes.tokenTtlSeconds) +
      REVOCATION_MARGIN_SECONDS;
  }

  async #write(token: string, userId: string, family: string, now: number): Promise<void> {
    const key = await tokenKey(token);
    const exp = now + this.lifetimes.refreshTtlSeconds * 1000;
    await this.redis.multi()
      .hset(key, { user: userId, family, state: "live", exp: String(exp) })
      .pexpireat(key, exp)
      .exec();
  }

  /**
   * Starts a family for a sign-in.
   *
   * @param userId The signed-in user.
   * @param now The current time (tests inject it).
   * @returns The first refresh token of a new family.
   */
  async start(userId: string, now: Date = new Date()): Promise<IssuedRefreshToken> {
    const token = newRefreshToken();
    const family = newId();
    await this.#write(token, userId, family, now.getTime());
    return { token, family, expiresIn: this.lifetimes.refreshTtlSeconds };
  }

  /**
   * Spends a refresh token and issues its successor, atomically.
   *
   * @param token The presented refresh token (any text).
   * @param now The current time (tests inject it).
   * @returns The successor, or why the token was refused; a spent token
   *   (`reused`) has revoked its family by the time this returns.
   */
  async rotate(token: string, now: Date = new Date()): Promise<RotateOutcome> {
    if (!REFRESH_TOKEN_PATTERN.test(token)) return { ok: false, reason: "malformed" };
    const key = await tokenKey(token);
    const family = await this.redis.hget(key, "family");
    if (family === null) return { ok: false, reason: "unknown" };
    const next = newRefreshToken();
    const exp = now.getTime() + this.lifetimes.refreshTtlSeconds * 1000;
    const [outcome, userId] = await this.redis.eval(
      ROTATE,
      3,
      key,
      revokedKey(family),
      await tokenKey(next),
      family,
      now.getTime(),
      exp,
      this.#revocationSeconds,
    ) as [string, string];
    if (outcome !== "rotated") {
      return { ok: false, reason: outcome as RefusalReason, userId: userId || undefined, family };
    }
    return {
      ok: true,
      userId,
      next: { token: next, family, expiresIn: this.lifetimes.refreshTtlSeconds },
    };
  }

  /**
   * Revokes a family: none of its refresh tokens rotates again and none of
   * its access tokens (`sid`) is accepted again.
   */
  async revokeFamily(family: string): Promise<void> {
    await this.redis.set(revokedKey(family), "1", "EX", this.#revocationSeconds);
  }

  /**
   * Revokes the family of a refresh token, if the token is known.
   *
   * @returns The family revoked, if any.
   */
  async revokeByToken(token: string): Promise<string | undefined> {
    if (!REFRESH_TOKEN_PATTERN.test(token)) return undefined;
    const family = await this.redis.hget(await tokenKey(token), "family");
    if (family === null) return undefined;
    await this.revokeFamily(family);
    return family;
  }

  /** Tells whether a family was revoked. */
  async isRevoked(family: string): Promise<boolean> {
    return (await this.redis.exists(revokedKey(family))) === 1;
  }
}
