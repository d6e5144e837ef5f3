/**
 * The one place errors become HTTP responses: RFC 9457 problem details
 * (`application/problem+json` with `type`, `title`, `status`, `detail`).
 * Typed {@linkcode CofferError}s map through the catalogue; failures of a
 * dependency that mean something to a client (an unreachable object store, a
 * missing master key, a data key that does not unwrap) get their own problem
 * and log line; anything else is logged with the request id and answered as a bare 500, so no stack trace,
 * key or token ever reaches a client. A request whose client hung up is
 * logged as `request.aborted` (warn) and answered 499, not 500. Log lines
 * name the route pattern, never the raw path.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { UnknownKeyError } from "../crypto/mod.ts";
import { CofferError, type ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { methodLabel } from "../metrics.ts";
import { DataKeyError } from "../storage/data_keys.ts";
import type { AppEnv } from "./env.ts";
import { ObjectStoreUnavailableError } from "../storage/object_store.ts";
import { CLIENT_CLOSED_REQUEST, isClientAbort } from "./client_abort.ts";

/** Base URI of Coffer's problem types; each code is a fragment of the API docs. */
export const PROBLEM_TYPE_BASE = "https://coffer.invalid/problems/";

/** A problem details body. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
}

/** Builds the problem body for an error code. */
export function problemFor(error: CofferError): Problem {
  return {
    type: PROBLEM_TYPE_BASE + error.code.toLowerCase().replaceAll("_", "-"),
    title: error.title,
    status: error.status,
    ...(error.detail ? { detail: error.detail } : {}),
  };
}

/** Answers with a problem+json response for a typed error. */
export function problemResponse(error: CofferError): Response {
  const headers = new Headers(error.headers);
  headers.set("Content-Type", "application/problem+json");
  headers.set("Cache-Control", "no-store");
  return new Response(JSON.stringify(problemFor(error)), { status: error.status, headers });
}

function fromHttpException(error: HTTPException): CofferError {
  const codes: Record<number, ErrorCode> = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    413: "BODY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    431: "HEADER_TOO_LARGE",
  };
  return new CofferError(codes[error.status] ?? "BAD_REQUEST");
}

/**
 * A 503 telling the client to try again in a few seconds (a dependency such
 * as Redis or the object store is unreachable).
 */
export function serviceUnavailable(detail: string): CofferError {
  return new CofferError("SERVICE_UNAVAILABLE", detail, { headers: { "Retry-After": "5" } });
}

/** Failures from below the HTTP layer that mean something to a client, logged; else undefined. */
function fromDependencyFailure(error: Error, c: Context, log: Logger): CofferError | undefined {
  // The route pattern, not the path: a compatible download's path holds a file name.
  const where = { request_id: c.get("requestId"), route: c.req.routePath };
  if (error instanceof ObjectStoreUnavailableError) {
    // A file id (never a name: only /api/files/:id routes have an `id`) ties it to the file.
    log.warn("object_store.unavailable", { ...where, file_id: c.req.param("id") });
    return serviceUnavailable("The object store is not answering; try again shortly");
  }
  if (error instanceof UnknownKeyError) {
    // A master key was removed while files still use it: an operator's fix, so
    // the log names the key id (not secret) and the client gets a stable type.
    log.error("master_key.missing", {
      ...where,
      kid: error.kid,
      advice: "put this key id back in COFFER_MASTER_KEYS, then run deno task keys:rotate",
    });
    return new CofferError("KEY_UNAVAILABLE");
  }
  if (error instanceof DataKeyError) {
    // The wrapped key is destroyed, modified, bound to another file or owner,
    // or the configured key of that id is not the one that wrapped it.
    log.error("data_key.unwrap_failed", { ...where, file_id: error.fileId, kid: error.kid });
    return new CofferError("KEY_UNAVAILABLE", "The file's data key cannot be unwrapped");
  }
  return undefined;
}

/**
 * Creates the app-wide `onError` handler.
 *
 * @param log Where unexpected errors are reported (message and request id only).
 * @returns A Hono error handler.
 */
export function createErrorHandler(log: Logger) {
  return function handleError(error: Error, c: Context): Response {
    if (error instanceof CofferError) return problemResponse(error);
    if (error instanceof HTTPException) return problemResponse(fromHttpException(error));
    const where = { request_id: c.get("requestId"), method: methodLabel(c.req.method) };
    if (isClientAbort(error, c.req.raw)) {
      // Nobody reads this answer; 499 keeps the request out of the 5xx counts.
      log.warn("request.aborted", { ...where, route: c.req.routePath, error: error.name });
      return new Response(null, { status: CLIENT_CLOSED_REQUEST });
    }
    const known = fromDependencyFailure(error, c, log);
    if (known) return problemResponse(known);
    log.error("request.failed", { ...where, route: c.req.routePath, error: error.name });
    return problemResponse(new CofferError("INTERNAL"));
  };
}

/**
 * The `notFound` handler: a problem body like every other error. It marks the
 * request as unmatched, so logs and metrics name it by one label rather than
 * by its path.
 */
export function handleNotFound(c: Context<AppEnv>): Response {
  c.set("unmatched", true);
  return problemResponse(new CofferError("NOT_FOUND"));
}
