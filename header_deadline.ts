/**
 * The public HTTP listener, with the header deadline `Deno.serve` lacks:
 * a connection whose request headers have not all arrived
 * {@linkcode HEADER_DEADLINE_MS} after it opened (or after its previous
 * response) is closed. Deno 2.9's
 * server has no header or idle timeout at all (docs/DEVELOPMENT.md, fact
 * 14: a client trickling one header line every 5 s, or sending nothing, was
 * still connected after 70 s; node:http's `headersTimeout` is ignored too).
 *
 * So the public port is a small TCP relay in front of `Deno.serve`, which
 * listens on a loopback port of its own:
 *
 * - Each accepted connection is relayed byte for byte (nothing is parsed,
 *   buffered or rewritten). The relay's own port on the loopback side names
 *   the connection to the inner handler, which therefore sees the real
 *   client address, and tells the relay when a request's headers have been
 *   read (the handler runs) and when its response has been sent
 *   (`info.completed`).
 * - The deadline runs whenever the connection has no request in progress:
 *   from the moment it opens, and again after each response. So trickled
 *   headers, a silent connection, a second request trickled on a kept-alive
 *   connection and an idle kept-alive connection are all closed once it
 *   passes.
 * - A response with `Connection: close` ends its connection once sent:
 *   Deno ignores that header in a response and keeps the connection open.
 * - After the server closes, the relay lingers briefly, reading and
 *   dropping what the client still sends, so an early answer (413, 429) to a
 *   client still sending is not lost to a TCP reset.
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

const RELAY_BUFFER_BYTES = 256 * 1024;

/**
 * How long a connection stays open, reading and dropping what the client
 * still sends, after the server's answer went out. A server that answers
 * early (413, 429) and closes at once while request bytes are unread makes
 * the kernel send a reset, and the client may lose the answer.
 */
const LINGER_MS = 2000;

/** One relayed connection. */
interface Relay {
  /** The client's address, as the handler should see it. */
  client: Deno.NetAddr;
  /** Whether no request is in progress (the deadline is running). */
  idle(): boolean;
  requestStarted(): void;
  requestEnded(): void;
  /** Ends the connection after a response that said `Connection: close`. */
  finish(): void;
  /** The server has answered and closed: client bytes are read and dropped. */
  upstreamDone: boolean;
  /** The client has finished sending. */
  clientDone: boolean;
  /** Client bytes are no longer passed on (the connection is closing). */
  clientIgnored: boolean;
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
  /** Relays by their local port towards the inner server. */
  const byPort = new Map<number, Relay>();
  const relays = new Set<Relay>();
  let inner: Deno.HttpServer<Deno.NetAddr>;
  try {
    inner = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request, info) => {
      const relay = byPort.get(info.remoteAddr.port);
      if (!relay) return await handler(request, info); // a local process that bypassed the relay
      relay.requestStarted();
      let closing = false;
      info.completed.catch(() => {}).finally(() => closing ? relay.finish() : relay.requestEnded());
      const response = await handler(request, {
        remoteAddr: relay.client,
        completed: info.completed,
      });
      closing = response.headers.get("connection")?.toLowerCase() === "close";
      return response;
    });
  } catch (error) {
    listener.close();
    throw error;
  }
  const relayOne = async (conn: Deno.TcpConn) => {
    let upstream: Deno.TcpConn | undefined;
    let linger: ReturnType<typeof setTimeout> | undefined;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    let inProgress = 0;
    const relay: Relay = {
      client: conn.remoteAddr,
      upstreamDone: false,
      clientDone: false,
      clientIgnored: false,
      idle: () => inProgress === 0,
      requestStarted() {
        inProgress++;
        clearTimeout(deadline);
      },
      requestEnded() {
        if (--inProgress === 0) deadline = setTimeout(() => relay.close(), deadlineMs);
      },
      finish() {
        // The answer has left the server but may still be in the relay: stop
        // passing client bytes on and half-close, so the server closes its
        // side once idle; copyToClient then drains the answer and lingers.
        relay.clientIgnored = true;
        upstream?.closeWrite().catch(() => relay.close());
      },
      close() {
        clearTimeout(linger);
        clearTimeout(deadline);
        closeQuietly(conn);
        if (upstream) closeQuietly(upstream);
      },
    };
    relays.add(relay);
    deadline = setTimeout(() => relay.close(), deadlineMs);
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: inner.addr.port });
      const port = upstream.localAddr.port;
      byPort.set(port, relay);
      const toServer = upstream;
      await Promise.all([
        copyFromClient(conn, toServer, relay),
        copyToClient(toServer, conn, relay, () => {
          linger = setTimeout(() => relay.close(), LINGER_MS);
        }),
      ]).finally(() => byPort.delete(port));
    } catch {
      // the inner server is shutting down, or a side went away
    } finally {
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
      for (const relay of relays) if (relay.idle()) relay.close();
      await inner.shutdown();
      for (const relay of relays) relay.close();
      await Promise.allSettled([...tasks]);
    })();
    return stopped;
  };
  return { addr, shutdown, [Symbol.asyncDispose]: shutdown };
}

/**
 * Relays client bytes to the server. Once the server is done, later bytes
 * are read and dropped (lingering close); the client's end of sending is
 * passed on as a half-close.
 */
async function copyFromClient(
  client: Deno.Conn,
  server: Deno.TcpConn,
  relay: Relay,
): Promise<void> {
  const buffer = new Uint8Array(RELAY_BUFFER_BYTES);
  try {
    while (true) {
      const read = await client.read(buffer);
      if (read === null) break;
      if (relay.upstreamDone || relay.clientIgnored) continue;
      await writeAll(server, buffer.subarray(0, read)).catch(() => {});
    }
  } catch {
    // the client went away
    relay.close();
    return;
  }
  relay.clientDone = true;
  if (relay.upstreamDone) relay.close();
  else if (!relay.clientIgnored) await server.closeWrite().catch(() => relay.close());
}

/** Relays the server's bytes to the client; when they end, half-closes the client side. */
async function copyToClient(
  server: Deno.Conn,
  client: Deno.TcpConn,
  relay: Relay,
  onLinger: () => void,
): Promise<void> {
  const buffer = new Uint8Array(RELAY_BUFFER_BYTES);
  try {
    while (true) {
      const read = await server.read(buffer);
      if (read === null) break;
      await writeAll(client, buffer.subarray(0, read));
    }
  } catch {
    relay.close();
    return;
  }
  relay.upstreamDone = true;
  if (relay.clientDone) relay.close();
  else await client.closeWrite().then(onLinger, () => relay.close());
}

async function writeAll(to: Deno.Conn, chunk: Uint8Array): Promise<void> {
  for (let written = 0; written < chunk.length;) written += await to.write(chunk.subarray(written));
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}
