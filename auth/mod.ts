/**
 * Authentication: argon2id passwords, HS256 access tokens, the logout
 * deny-list, rate limits, and the `requireAuth` middleware that protects
 * routes. The HTTP routes live in routes/auth.ts; accounts in
 * storage/user_store.ts.
 *
 * @example
 * ```ts
 * import { requireAuth } from "./mod.ts";
 * router.use("/api/files/*", requireAuth(services));
 * ```
 *
 * @module
 */
export { clientAddress, type ClientAddressFn, rateLimitAddress } from "./client_address.ts";
export {
  BEARER_CHALLENGE,
  MAX_TOKEN_BYTES,
  requireAuth,
  type RequireAuthOptions,
  unauthorized,
} from "./middleware.ts";
export {
  ARGON2_PARAMS,
  checkPassword,
  hashPassword,
  PASSWORD_MAX_CHARS,
  PASSWORD_MIN_CHARS,
  phcParams,
  verifyDummy,
  verifyPassword,
} from "./passwords.ts";
export {
  checkSlowdownRule,
  DEFAULT_RATE_LIMITS,
  RateLimiter,
  type RateLimitRule,
  type RateLimitSettings,
  slowdownMs,
  type SlowdownRule,
} from "./rate_limit.ts";
export { Revocations } from "./revocations.ts";
export {
  CLOCK_TOLERANCE_SECONDS,
  InvalidTokenError,
  type IssuedToken,
  issueToken,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  type TokenClaims,
  type TokenPolicy,
  verifyToken,
} from "./tokens.ts";
export { normalizeUsername, USERNAME_INPUT_PATTERN } from "./usernames.ts";
