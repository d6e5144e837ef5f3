/**
 * The public HTTP listener, with the header deadline `Deno.serve` lacks:
 * a connection whose request headers have not all arrived
 * {@linkcode HEADER_DEADLINE_MS} after it opened is closed. Deno 2.9's
 * server has no header or idle timeout at all (docs/DEVELOPMENT.md, fact
 * 13: a client trickling one header line every 5 s, or sending nothing, was
 * still connected after 70 s; node:http's `headersTimeout` is ignored too).
 *
 * So the public port is a small TCP relay in front of `Deno.serve`, which
 * listens on a loopback port of its own:
 *
 * - Each accepted connection is relayed byte for byte (nothing is buffered
 *   or rewritten); the relay only watches for the blank line that ends the
 *   request headers, and closes both sides if it has not come in time.
 * - Every response says `Connection: close`, so a connection carries one
 *   request: an idle keep-alive connection, or a second request trickled on
 *   it, cannot escape the deadline. (HTTP/2 prior knowledge, which the relay
 *   cannot follow, is refused.)
 * - The handler sees the real client address, not the relay's: requests are
 *   matched to their client by the relay's own port on the loopback side.
 *
 * The upload body has its own limit (routes/idle_body.ts).
 *
 * @module
 */

/** How long a client has, from connecting, to send its request headers. */
export const HEADER_DEADLINE_MS = 30_000;

/** Options for {@linkcode serveWithHeaderDeadline}. */
export interface HeaderDeadlineOptions {
  hostname: string;
  port: number;
  onListen?: (addr: Deno.NetAddr) => void;
  /** Defaults to {@linkcode HEADER_DEADLINE_MS}; tests shorten it. */
  headerDeadlineMs?: number;
}

/** A running server; `shutdown` stops accepting and lets requests finish. */
export interface GuardedServer extends AsyncDisposable {
  addr: Deno.NetAddr;
  shutdown(): Promise<void>;
}

type Handler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

const END_OF_HEADERS = [13, 10, 13, 10];
const HTTP2_PREFACE = new TextEncoder().encode("PRI ");
const RELAY_BUFFER_BYTES = 256 * 1024;

/** One relayed connection. */
interface Relay {
  headersDone: boolean;
  close(): void;
}

/**
 * Serves `handler` on `hostname:port` behind the header deadline.
 *
 * @throws whatever `Deno.listen` throws (address in use, permission denied…).
 * @example
 * ```ts
 * await using server = serveWithHeaderDeadline({ hostname: "127.0.0.1", port: 8080 }, app.fetch);
 * ```
 */
export function serveWithHeaderDeadline(
  options: HeaderDeadlineOptions,
  handler: Handler,
): GuardedServer {
  const deadlineMs = options.headerDeadlineMs ?? HEADER_DEADLINE_MS;
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  /** Client address by the relay's local port towards the inner server. */
  const clients = new Map<number, Deno.NetAddr>();
  const relays = new Set<Relay>();
  let inner: Deno.HttpServer<Deno.NetAddr>;
  try {
    inner = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request, info) => {
      const client = clients.get(info.remoteAddr.port);
      const response = await handler(request, client ? { ...info, remoteAddr: client } : info);
      return oneRequestPerConnection(response);
    });
  } catch (error) {
    listener.close();
    throw error;
  }
  const relayOne = async (conn: Deno.TcpConn) => {
    let upstream: Deno.TcpConn | undefined;
    const relay: Relay = {
      headersDone: false,
      close() {
        closeQuietly(conn);
        if (upstream) closeQuietly(upstream);
      },
    };
    relays.add(relay);
    const timer = setTimeout(() => relay.headersDone || relay.close(), deadlineMs);
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: inner.addr.port });
      const port = upstream.localAddr.port;
      clients.set(port, conn.remoteAddr);
      const watch = headerWatcher(() => {
        relay.headersDone = true;
        clearTimeout(timer);
      }, () => relay.close());
      await Promise.all([
        pump(conn, upstream, watch, () => upstream!.closeWrite().catch(() => relay.close())),
        pump(upstream, conn, undefined, () => relay.close()),
      ]).finally(() => clients.delete(port));
    } catch {
      // the inner server is shutting down, or a side went away
    } finally {
      clearTimeout(timer);
      relay.close();
      relays.delete(relay);
    }
  };
  const tasks = new Set<Promise<void>>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const task = relayOne(conn);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch {
      // the listener was closed
    }
  })();
  const addr = listener.addr as Deno.NetAddr;
  options.onListen?.(addr);
  let stopped: Promise<void> | undefined;
  const shutdown = () => {
    stopped ??= (async () => {
      closeQuietly(listener);
      await accepting;
      for (const relay of relays) if (!relay.headersDone) relay.close();
      await inner.shutdown();
      for (const relay of relays) relay.close();
      await Promise.allSettled([...tasks]);
    })();
    return stopped;
  };
  return { addr, shutdown, [Symbol.asyncDispose]: shutdown };
}

/** Marks the response so the server closes the connection after it. */
function oneRequestPerConnection(response: Response): Response {
  try {
    response.headers.set("Connection", "close");
    return response;
  } catch {
    // immutable headers (e.g. Response.redirect): copy them
    const headers = new Headers(response.headers);
    headers.set("Connection", "close");
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  }
}

/**
 * Watches client bytes for the end of the request headers; calls `onDone`
 * once it passes, or `onRefused` for an HTTP/2 preface.
 */
function headerWatcher(onDone: () => void, onRefused: () => void): (chunk: Uint8Array) => void {
  let matched = 0;
  let prefaceMatched = 0; // -1 once the first bytes are not an HTTP/2 preface
  let done = false;
  return (chunk) => {
    if (done) return;
    for (const byte of chunk) {
      if (prefaceMatched >= 0 && prefaceMatched < HTTP2_PREFACE.length) {
        prefaceMatched = byte === HTTP2_PREFACE[prefaceMatched] ? prefaceMatched + 1 : -1;
        if (prefaceMatched === HTTP2_PREFACE.length) {
          done = true;
          onRefused();
          return;
        }
      }
      matched = byte === END_OF_HEADERS[matched] ? matched + 1 : byte === 13 ? 1 : 0;
      if (matched === END_OF_HEADERS.length) {
        done = true;
        onDone();
        return;
      }
    }
  };
}

/** Copies `from` to `to` until `from` ends or either side fails, then calls `onEnd`. */
async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  onChunk: ((chunk: Uint8Array) => void) | undefined,
  onEnd: () => void,
): Promise<void> {
  const buffer = new Uint8Array(RELAY_BUFFER_BYTES);
  try {
    while (true) {
      const read = await from.read(buffer);
      if (read === null) break;
      const chunk = buffer.subarray(0, read);
      onChunk?.(chunk);
      for (let written = 0; written < read;) written += await to.write(chunk.subarray(written));
    }
  } catch {
    // a side went away: onEnd closes the rest
  }
  onEnd();
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}
