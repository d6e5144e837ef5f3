/**
 * The authentication middleware for every protected route.
 *
 * The token is taken from, in this order: `Authorization: Bearer <jwt>`; the
 * original design's `x-access-tokens: <jwt>` header; and, only on GET and
 * HEAD requests to the paths the caller names (the event stream: `EventSource`
 * cannot send headers), the `access_token` query parameter. Anywhere else a
 * query token is ignored, so a token in a URL — kept in histories, logs and
 * `Referer`s, usable as `<script src>` — opens nothing but progress. A token
 * or Authorization header over {@linkcode MAX_TOKEN_BYTES} is refused with
 * 431 before any work. Every other failure — no token, a bad
 * token, a revoked token or session (`sid`, see storage/refresh_store.ts), a
 * token whose lifetime exceeds the configured one, a deleted user — is the same 401 problem with
 * `WWW-Authenticate: Bearer`, so a client learns nothing about why.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { CofferError } from "../errors.ts";
import type { AppEnv } from "../routes/env.ts";
import type { Services } from "../services.ts";
import { RefreshStore } from "../storage/refresh_store.ts";
import { Revocations } from "./revocations.ts";
import { verifyToken } from "./tokens.ts";

/** Longest Authorization header (or token from elsewhere) looked at. */
export const MAX_TOKEN_BYTES = 8 * 1024;

/** The `WWW-Authenticate` challenge sent with every 401. */
export const BEARER_CHALLENGE = 'Bearer realm="coffer"';

/** The one 401 every authentication failure answers with. */
export function unauthorized(): CofferError {
  return new CofferError("UNAUTHORIZED", undefined, {
    headers: { "WWW-Authenticate": BEARER_CHALLENGE },
  });
}

/** Options for {@linkcode requireAuth}. */
export interface RequireAuthOptions {
  /**
   * Paths (`c.req.path`, matched whole) on which `?access_token=` is
   * accepted for GET and HEAD; default none.
   */
  queryTokenPath?: RegExp;
}

function tooLarge(): CofferError {
  return new CofferError("HEADER_TOO_LARGE", `Tokens are limited to ${MAX_TOKEN_BYTES} bytes`);
}

/** Finds the token a request carries; `undefined` if none. */
function findToken(c: Context, queryTokenPath: RegExp | undefined): string | undefined {
  const authorization = c.req.header("Authorization");
  if (authorization !== undefined) {
    if (authorization.length > MAX_TOKEN_BYTES) throw tooLarge();
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    if (match) return match[1];
  }
  const legacy = c.req.header("x-access-tokens");
  if (legacy !== undefined) {
    if (legacy.length > MAX_TOKEN_BYTES) throw tooLarge();
    return legacy.trim() || undefined;
  }
  const queryToken = queryTokenPath?.test(c.req.path) ?? false;
  if (queryToken && (c.req.method === "GET" || c.req.method === "HEAD")) {
    const query = c.req.query("access_token");
    if (query !== undefined && query.length > MAX_TOKEN_BYTES) throw tooLarge();
    return query || undefined;
  }
  return undefined;
}

/**
 * Creates the middleware that admits only requests with a valid, unrevoked
 * token of an existing user, and puts that user on the context as `user`
 * (`{id, username, jti, exp}`).
 *
 * @param services The running services (JWT secret, Redis, user store).
 * @param options See {@linkcode RequireAuthOptions}.
 * @returns A Hono middleware.
 * @throws {CofferError} from the middleware: `UNAUTHORIZED` (401, with
 *   `WWW-Authenticate: Bearer`) or `HEADER_TOO_LARGE` (431).
 * @example
 * ```ts
 * router.use("/api/files/*", requireAuth(services));
 * router.get("/api/files", (c) => c.json({ owner: c.get("user").id }));
 * ```
 */
export function requireAuth(
  services: Services,
  options: RequireAuthOptions = {},
): MiddlewareHandler<AppEnv> {
  const { queryTokenPath } = options;
  const { source, global, sticky } = queryTokenPath ?? /^$/;
  if (!source.startsWith("^") || !source.endsWith("$") || global || sticky) {
    // A partial match would open more paths than meant; g and y make test() stateful.
    throw new TypeError("Cannot create requireAuth: queryTokenPath must be ^…$ without g or y");
  }
  const users = services.users;
  const revocations = new Revocations(services.redis);
  const sessions = new RefreshStore(services.redis, services.config);
  const secret = services.secrets.jwtSecret;
  const policy = { maxLifetimeSeconds: services.config.tokenTtlSeconds };
  return async function requireAuth(c, next) {
    const token = findToken(c, queryTokenPath);
    if (token === undefined) throw unauthorized();
    const claims = await verifyToken(secret, token, policy).catch(() => undefined);
    if (!claims) throw unauthorized();
    const [revoked, sessionRevoked, user] = await Promise.all([
      revocations.isRevoked(claims.jti),
      claims.sid === undefined ? false : sessions.isRevoked(claims.sid),
      users.findById(claims.sub),
    ]);
    if (revoked || sessionRevoked || !user) throw unauthorized();
    const { jti, exp, sid } = claims;
    c.set("user", { id: user.id, username: user.username, jti, exp, ...(sid ? { sid } : {}) });
    await next();
  };
}
