/**
 * Access tokens: JWTs signed with HS256 under the service's secret (jose).
 *
 * Header `{"alg":"HS256","typ":"JWT"}`; claims `sub` (user id), `iat`, `exp`,
 * `jti` (random, for logout), `iss` = {@linkcode TOKEN_ISSUER} and
 * `aud` = {@linkcode TOKEN_AUDIENCE}. Verification pins the algorithm list to
 * HS256 (so `alg: none`, RS256/ES256 and key-confusion tokens fail), requires
 * every one of those claims, checks issuer and audience, honours `nbf` when
 * present, and allows {@linkcode CLOCK_TOLERANCE_SECONDS} of clock skew. It
 * also refuses a token no Coffer process would have issued even though its
 * signature is good (a leaked secret, a process with a longer TTL, a clock far
 * ahead): one whose `iat` lies in the future, or whose lifetime `exp − iat`
 * is longer than the configured TTL, each beyond the tolerance.
 *
 * A token issued at sign-in carries `sid`, the id of its refresh-token family
 * (storage/refresh_store.ts), so logout and reuse detection can end every
 * access token of that session.
 *
 * @module
 */
import { jwtVerify, SignJWT } from "jose";

/** The `iss` claim of every Coffer token. */
export const TOKEN_ISSUER = "coffer";
/** The `aud` claim of every Coffer token. */
export const TOKEN_AUDIENCE = "coffer-api";
/** Clock skew accepted on `exp` and `nbf`. */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** The only signature algorithm accepted. */
export const TOKEN_ALGORITHM = "HS256";

const REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "iss", "aud"];
const MAX_CLAIM_LENGTH = 128;

/** The verified facts of a token. */
export interface TokenClaims {
  /** The user id. */
  sub: string;
  /** The token id. */
  jti: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** The session (refresh-token family) the token belongs to, if any. */
  sid?: string;
}

/** A freshly issued token. */
export interface IssuedToken extends TokenClaims {
  token: string;
}

/** Thrown for every token that is not acceptable, whatever the reason. */
export class InvalidTokenError extends Error {
  constructor(options?: ErrorOptions) {
    super("Cannot verify token: invalid or expired", options);
    this.name = "InvalidTokenError";
  }
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/**
 * Issues an access token for a user.
 *
 * @param secret The HS256 key (at least 32 bytes).
 * @param userId The `sub` claim.
 * @param ttlSeconds Lifetime; `exp = iat + ttlSeconds`.
 * @param now The current time (tests inject it).
 * @param sid The session (refresh-token family) to name in the `sid` claim.
 * @returns The compact JWT and its claims.
 * @example
 * ```ts
 * const { token, exp } = await issueToken(secret, "3f2a…", 3600);
 * ```
 */
export async function issueToken(
  secret: Uint8Array,
  userId: string,
  ttlSeconds: number,
  now: Date = new Date(),
  sid?: string,
): Promise<IssuedToken> {
  if (secret.length < 32) {
    throw new RangeError("Cannot issue token: secret is shorter than 32 bytes");
  }
  const iat = Math.floor(now.getTime() / 1000);
  const claims: TokenClaims = { sub: userId, jti: randomId(), iat, exp: iat + ttlSeconds };
  if (sid !== undefined) claims.sid = sid;
  const token = await new SignJWT(sid === undefined ? {} : { sid })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: "JWT" })
    .setSubject(claims.sub)
    .setJti(claims.jti)
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .sign(secret);
  return { token, ...claims };
}

function isShortString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_CLAIM_LENGTH;
}

/** What {@linkcode verifyToken} accepts besides a good signature. */
export interface TokenPolicy {
  /** The longest lifetime `exp − iat` accepted (the configured TTL, `COFFER_TOKEN_TTL`). */
  maxLifetimeSeconds: number;
  /** The current time (tests inject it). */
  now?: Date;
}

/** Refuses claims that no Coffer process issued under `policy`, whatever their signature. */
function checkIssuedWithin(iat: number, exp: number, policy: TokenPolicy, now: Date): void {
  const nowSeconds = now.getTime() / 1000;
  if (iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) {
    throw new Error("iat is in the future");
  }
  if (exp - iat > policy.maxLifetimeSeconds + CLOCK_TOLERANCE_SECONDS) {
    throw new Error("exp − iat is longer than the configured token lifetime");
  }
}

/**
 * Verifies a token and returns its claims.
 *
 * @param secret The HS256 key the token must be signed with.
 * @param token The compact JWT.
 * @param policy The longest lifetime accepted and, for tests, the current time.
 * @returns The verified claims.
 * @throws {InvalidTokenError} for any bad token (signature, algorithm, a missing
 *   or wrong claim, expired beyond the tolerance, not yet valid, issued in the
 *   future, a lifetime over the TTL); the cause says why.
 * @example
 * ```ts
 * const claims = await verifyToken(secret, token, { maxLifetimeSeconds: 3600 });
 * ```
 */
export async function verifyToken(
  secret: Uint8Array,
  token: string,
  policy: TokenPolicy,
): Promise<TokenClaims> {
  const now = policy.now ?? new Date();
  try {
    const { payload } = await jwtVerify(token, secret, {
      algorithms: [TOKEN_ALGORITHM],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      requiredClaims: REQUIRED_CLAIMS,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      typ: "JWT",
      currentDate: now,
    });
    const { sub, jti, iat, exp, sid } = payload;
    if (!isShortString(sub) || !isShortString(jti) || iat === undefined || exp === undefined) {
      throw new Error("sub and jti must be short strings");
    }
    if (sid !== undefined && !isShortString(sid)) throw new Error("sid must be a short string");
    checkIssuedWithin(iat, exp, policy, now);
    return sid === undefined ? { sub, jti, iat, exp } : { sub, jti, iat, exp, sid };
  } catch (error) {
    throw new InvalidTokenError({ cause: error });
  }
}
