/**
 * Cross-cutting HTTP middleware: a request id (echoed in `X-Request-Id`),
 * one structured log line per request, security headers on every response,
 * and a fast 503 for routes that need Redis while it is unreachable. The log
 * line names the route, status and timing, never a query string (it may hold
 * `access_token`) or a header value. A refused request (status 400 or more)
 * and the compatible download routes log the route pattern as `path`, never
 * the raw path: an unauthenticated `GET /download/tax-return-2026.pdf` must
 * not put the file name in the logs. Routes whose path holds a link id
 * (`/s/:id…`, `/r/:id…`, `/api/shares/:id…`, `/api/requests/:id…`) always
 * log the pattern too: a link id is a bearer secret.
 */
import type { Context, Next } from "hono";
import { serviceUnavailable } from "./problem.ts";
import type { Logger } from "../log.ts";
import { methodLabel, UNMATCHED_ROUTE } from "../metrics.ts";
import type { AppEnv } from "./env.ts";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Route patterns whose raw path must never be logged (a file name, a link id, a ticket). */
const SECRET_PATH_ROUTES = /:filename|:ticket|^\/(s|r)\/|^\/api\/(shares|requests)\/:/;

/** Called after each request with its route pattern, status and duration. */
export type RequestObserver = (route: string, method: string, status: number, ms: number) => void;

/**
 * Creates the request logging middleware.
 *
 * @param log Receives one `http.request` line per request.
 * @param observe Optional hook for metrics.
 */
export function requestLogging(log: Logger, observe?: RequestObserver) {
  return async function logRequest(c: Context<AppEnv>, next: Next) {
    const incoming = c.req.header("X-Request-Id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", requestId);
    const started = performance.now();
    await next();
    c.header("X-Request-Id", requestId);
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const route = routeLabel(c);
    const status = c.res.status;
    log.info("http.request", {
      request_id: requestId,
      method: methodLabel(c.req.method),
      path: status < 400 && !SECRET_PATH_ROUTES.test(route) ? c.req.path : route,
      route,
      status,
      ms,
    });
    observe?.(route, c.req.method, status, ms);
  };
}

/**
 * The pattern that answered a request: the matched route (`/api/files/:id`),
 * the middleware that refused it (`/download/*`), or {@linkcode UNMATCHED_ROUTE}.
 */
export function routeLabel(c: Context<AppEnv>): string {
  return c.get("unmatched") ? UNMATCHED_ROUTE : c.req.routePath;
}

/** Content-Security-Policy for the page: no inline script, no framing. */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Sets security headers on every response. */
export async function securityHeaders(c: Context, next: Next) {
  await next();
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "no-referrer");
  c.header("X-Frame-Options", "DENY");
  c.header("Cross-Origin-Opener-Policy", "same-origin");
  if (!c.res.headers.has("Content-Security-Policy")) {
    c.header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  }
}

/**
 * Answers 503 at once while the Redis connection is not ready, instead of
 * letting the request wait on ioredis' reconnect loop (tens of seconds, or
 * for ever on BullMQ's connection) and end in a 500.
 *
 * @param redis The metadata connection (only its `status` is read).
 */
export function requireRedis(redis: { readonly status: string }) {
  return async function checkRedis(_c: Context, next: Next) {
    if (redis.status !== "ready") {
      throw serviceUnavailable("Redis is not answering; try again shortly");
    }
    await next();
  };
}
