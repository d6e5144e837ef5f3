/**
 * Recognises a request that failed because its client went away (Cancel, a
 * reload, a lost network) rather than because of a fault of Coffer's: those
 * are logged as `request.aborted` at warn level and counted as status 499,
 * so they do not set off the 5xx alert.
 *
 * Deno 2.9 gives no flag for this while the handler runs: `request.signal` is
 * still not aborted when the body read fails (measured), and the serve
 * handler's `completed` promise settles only after a response. What the
 * handler sees is the body stream failing with a connection error:
 * `BadResource` ("Cannot read request body as underlying resource
 * unavailable") after a close or a half-close, `Http` ("unexpected EOF while
 * reading HTTP/1 body") after a reset. So a request counts as aborted when
 * its body was being read and the error, or one of its causes, is one of
 * those connection errors.
 *
 * @module
 */

/**
 * The status logged and counted for a request whose client went away
 * (nginx's convention; no client ever receives it).
 */
export const CLIENT_CLOSED_REQUEST = 499;

const CONNECTION_ERRORS = [
  Deno.errors.BadResource,
  Deno.errors.Http,
  Deno.errors.ConnectionReset,
  Deno.errors.ConnectionAborted,
  Deno.errors.BrokenPipe,
  Deno.errors.Interrupted,
  Deno.errors.UnexpectedEof,
];

function isConnectionError(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 4) return false;
  return CONNECTION_ERRORS.some((type) => error instanceof type) ||
    isConnectionError(error.cause, depth + 1);
}

/**
 * Whether `error` means the client of `request` hung up mid-request.
 *
 * @param error What the handler threw.
 * @param request The request being answered.
 * @returns True when the request body was being read and the error (or a
 *   cause) is a connection error.
 * @example
 * ```ts
 * if (isClientAbort(error, c.req.raw)) log.warn("request.aborted", { … });
 * ```
 */
export function isClientAbort(error: unknown, request: Request): boolean {
  return request.bodyUsed && isConnectionError(error);
}
