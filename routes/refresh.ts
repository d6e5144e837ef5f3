/**
 * `POST /api/auth/refresh`: trades a refresh token for a new access token and
 * a new refresh token, spending the old one (storage/refresh_store.ts). The
 * token comes in the JSON body (`{refresh_token}`, the CLI) or, when there is
 * no body, in the page's HttpOnly cookie (auth/refresh_cookie.ts); the new
 * one goes back the same way, so a token that came in a cookie never appears
 * in a body the page's script could read.
 *
 * Every refusal — malformed, unknown, expired, spent (which also revokes the
 * family), revoked, a deleted user — is the same 401 problem. Failed attempts
 * are counted per client address before the lookup (a success gives its
 * attempt back), so an address that keeps presenting bad tokens gets 429.
 *
 * Also exports the token response every sign-in shares.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { clientAddress, type ClientAddressFn } from "../auth/client_address.ts";
import {
  clearedRefreshCookie,
  REFRESH_COOKIE,
  refreshCookieOf,
  setRefreshCookie,
} from "../auth/refresh_cookie.ts";
import { RateLimiter, type RateLimitRule } from "../auth/rate_limit.ts";
import { issueToken } from "../auth/tokens.ts";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { type IssuedRefreshToken, RefreshStore } from "../storage/refresh_store.ts";
import type { AppEnv } from "./env.ts";
import { createRouter, problem } from "./openapi.ts";

/** Failed refreshes allowed per client address in a window, by default. */
export const DEFAULT_REFRESH_LIMIT: RateLimitRule = { limit: 30, windowMs: 15 * 60_000 };

/** The answer of every sign-in and refresh. */
export const TokenSchema = z.object({
  access_token: z.string(),
  token_type: z.literal("Bearer"),
  expires_in: z.number().int().openapi({ description: "Seconds until the access token expires" }),
  refresh_token: z.string().optional().openapi({
    description: "Opaque; spend it at POST /api/auth/refresh (absent when it was set as a cookie)",
  }),
  refresh_expires_in: z.number().int().openapi({
    description: "Seconds until the refresh token expires (COFFER_REFRESH_TTL)",
  }),
}).openapi("Token");

/** A token response body. */
export type TokenBody = z.infer<typeof TokenSchema>;

/** The refresh store of a process. */
export function refreshStoreOf(services: Services): RefreshStore {
  return new RefreshStore(services.redis, services.config);
}

/**
 * Issues the access token of a session and builds the answer: the refresh
 * token goes into the body, or (for the page) into the HttpOnly cookie only.
 *
 * @param c The request context (gets `Cache-Control: no-store` and maybe the cookie).
 * @param services The running services.
 * @param userId The signed-in user.
 * @param refresh The session's current refresh token.
 * @param inCookie Whether to hand the refresh token over as the cookie.
 */
export async function tokenPair(
  c: Context,
  services: Services,
  userId: string,
  refresh: IssuedRefreshToken,
  inCookie: boolean,
): Promise<TokenBody> {
  const { config, secrets } = services;
  const issued = await issueToken(
    secrets.jwtSecret,
    userId,
    config.tokenTtlSeconds,
    undefined,
    refresh.family,
  );
  c.header("Cache-Control", "no-store");
  const body: TokenBody = {
    access_token: issued.token,
    token_type: "Bearer",
    expires_in: config.tokenTtlSeconds,
    refresh_expires_in: refresh.expiresIn,
  };
  if (inCookie) setRefreshCookie(c, refresh.token, refresh.expiresIn);
  else body.refresh_token = refresh.token;
  return body;
}

const RefreshRequestSchema = z.object({
  refresh_token: z.string().max(256),
}).openapi("RefreshRequest");

const refreshRoute = createRoute({
  method: "post",
  path: "/api/auth/refresh",
  summary: "Trade a refresh token for a new access token and refresh token",
  description:
    `The token comes as \`{refresh_token}\`, or with no body as the \`${REFRESH_COOKIE}\` ` +
    "cookie (the page); the new refresh token is returned the same way. The presented token is " +
    "spent: presenting it again revokes every token of its sign-in.",
  middleware: [bodyLimit({
    maxSize: 4096,
    onError: () => {
      throw new CofferError("BODY_TOO_LARGE", "Refresh requests are limited to 4096 bytes");
    },
  })] as const,
  request: {
    body: {
      required: false,
      content: { "application/json": { schema: RefreshRequestSchema } },
    },
  },
  responses: {
    200: {
      description: "A new access token and refresh token",
      content: { "application/json": { schema: TokenSchema } },
    },
    400: problem("Malformed body"),
    401: problem("Malformed, unknown, expired, spent or revoked refresh token (one answer)"),
    429: problem("Too many failed refreshes from this address; see Retry-After"),
  },
});

/** Options for {@linkcode refreshRoutes}. */
export interface RefreshRoutesOptions {
  /** Failed refreshes per address (default {@linkcode DEFAULT_REFRESH_LIMIT}). */
  limit?: RateLimitRule;
  /** How to find the client address (default: the TCP peer). */
  clientAddress?: ClientAddressFn;
}

/** The refresh route group. */
export function refreshRoutes(services: Services, options: RefreshRoutesOptions = {}) {
  const { log, users } = services;
  const refresh = refreshStoreOf(services);
  const failures = new RateLimiter(
    services.redis,
    "refresh-addr",
    options.limit ?? DEFAULT_REFRESH_LIMIT,
  );
  const addressOf = options.clientAddress ?? clientAddress;

  function refused(c: Context<AppEnv>, inCookie: boolean): CofferError {
    const headers: Record<string, string> = inCookie
      ? { "Set-Cookie": clearedRefreshCookie(c) }
      : {};
    return new CofferError("INVALID_REFRESH_TOKEN", undefined, { headers });
  }

  const router = createRouter();
  router.openapi(refreshRoute, async (c) => {
    const address = addressOf(c);
    await failures.consume(address);
    const body = c.req.valid("json") as { refresh_token?: string } | undefined;
    const fromBody = body?.refresh_token;
    const inCookie = fromBody === undefined;
    const presented = fromBody ?? refreshCookieOf(c) ?? "";
    const outcome = await refresh.rotate(presented);
    if (!outcome.ok) {
      const fields = { reason: outcome.reason, user_id: outcome.userId ?? null };
      if (outcome.reason === "reused") {
        log.warn("auth.refresh_reused", { ...fields, sid: outcome.family });
      } else log.info("auth.refresh_refused", fields);
      throw refused(c, inCookie);
    }
    if (!await users.findById(outcome.userId)) {
      await refresh.revokeFamily(outcome.next.family);
      throw refused(c, inCookie);
    }
    await failures.refund(address);
    log.info("auth.refreshed", { user_id: outcome.userId, sid: outcome.next.family });
    return c.json(await tokenPair(c, services, outcome.userId, outcome.next, inCookie), 200);
  });
  return router;
}
