/**
 * A TCP proxy for tests that need a bad network between a client and Coffer:
 * it can slow what the client sends to a given rate, and drop one
 * connection once a given number of bytes has gone through it (both sides
 * closed at once, as a broken link or a proxy timing out looks to each).
 */

/** Options for {@linkcode startTcpProxy}. */
export interface TcpProxyOptions {
  /** Drop the first connection that has sent more than this many bytes (once). */
  cutAfterBytes?: number;
  /** Forward what clients send at about this rate. */
  bytesPerSecond?: number;
}

/** A running proxy. */
export interface TcpProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** How many connections it has dropped. */
  readonly cuts: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a proxy on a free loopback port in front of `targetPort`.
 *
 * @example
 * ```ts
 * await using proxy = startTcpProxy(8080, { cutAfterBytes: 4 << 20 });
 * ```
 */
export function startTcpProxy(targetPort: number, options: TcpProxyOptions = {}): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const pumps = new Set<Promise<void>>();
  let cuts = 0;
  let cutDone = options.cutAfterBytes === undefined;

  const close = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch {
      // already closed
    }
  };

  async function upstreamOf(client: Deno.Conn, server: Deno.Conn) {
    let sent = 0;
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const read = await client.read(buffer);
        if (read === null) break;
        sent += read;
        if (!cutDone && sent > options.cutAfterBytes!) {
          cutDone = true;
          cuts++;
          break;
        }
        for (let at = 0; at < read;) at += await server.write(buffer.subarray(at, read));
        if (options.bytesPerSecond) await sleep((read / options.bytesPerSecond) * 1000);
      }
    } catch {
      // either side went away
    }
    close(client);
    close(server);
  }

  async function downstreamOf(server: Deno.Conn, client: Deno.Conn) {
    try {
      await server.readable.pipeTo(client.writable, { preventClose: true });
    } catch {
      // either side went away
    }
    close(client);
    close(server);
  }

  const accepting = (async () => {
    for await (const client of listener) {
      open.add(client);
      const pump = (async () => {
        let server: Deno.Conn;
        try {
          server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
        } catch {
          close(client);
          return;
        }
        open.add(server);
        await Promise.all([upstreamOf(client, server), downstreamOf(server, client)]);
      })();
      pumps.add(pump);
      pump.finally(() => pumps.delete(pump));
    }
  })().catch(() => {});

  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get cuts() {
      return cuts;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of [...open]) close(conn);
      await accepting;
      await Promise.allSettled([...pumps]);
    },
  };
}
