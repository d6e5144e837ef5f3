/**
 * A TCP proxy for tests that freezes the network at a chosen moment: bytes
 * pass both ways until a client sends a given byte pattern (e.g. the Redis
 * command that marks a record `stored`); from then on nothing more is
 * forwarded on any connection. A process behind it is stopped at exactly
 * that step — the command never reaches the server — and can be killed there.
 */

/** A running proxy; dispose to close it and every connection. */
export interface FreezingProxy extends AsyncDisposable {
  /** The loopback port to connect to instead of the target's. */
  port: number;
  /** Resolves once the pattern was seen and the proxy froze. */
  frozen: Promise<void>;
}

function includes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * Starts a proxy to `targetPort` on 127.0.0.1 that freezes when a client sends `pattern`.
 * A pattern split across two reads is not seen: make it short (Redis sends one command per write).
 *
 * @example
 * ```ts
 * await using proxy = startFreezingProxy(6379, "\r\nstored\r\n");
 * ```
 */
export function startFreezingProxy(targetPort: number, pattern: string): FreezingProxy {
  const needle = new TextEncoder().encode(pattern);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const frozen = Promise.withResolvers<void>();
  let isFrozen = false;
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const close = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  const copy = async (from: Deno.Conn, to: Deno.Conn, watch: boolean) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const read = await from.read(buffer);
        if (read === null) break;
        const chunk = buffer.subarray(0, read);
        if (watch && !isFrozen && includes(chunk, needle)) {
          isFrozen = true;
          frozen.resolve();
        }
        if (isFrozen) continue; // swallowed: the network is frozen
        for (let written = 0; written < read;) written += await to.write(chunk.subarray(written));
      }
    } catch {
      // either side went away
    }
  };
  const relay = async (client: Deno.Conn) => {
    open.add(client);
    let server: Deno.Conn | undefined;
    try {
      server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      open.add(server);
      await Promise.race([copy(client, server, true), copy(server, client, false)]);
    } catch {
      // the target is down
    } finally {
      close(client);
      if (server) close(server);
    }
  };
  const accepting = (async () => {
    try {
      for await (const client of listener) {
        const task = relay(client);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch {
      // listener closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    frozen: frozen.promise,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of [...open]) close(conn);
      await accepting;
      await Promise.allSettled([...tasks]);
    },
  };
}
