/**
 * Finds a Redis for `deno task start` with nothing configured: `REDIS_URL`
 * if set; else the conventional 127.0.0.1:6379 if it answers; else a
 * `redis-server` child on a free loopback port with AOF under the data dir,
 * stopped again on dispose; else a {@linkcode RedisUnavailableError} that
 * says how to get Redis.
 */
import type { Logger } from "../log.ts";

const DEFAULT_REDIS = { hostname: "127.0.0.1", port: 6379 };

/** No Redis could be found or started. */
export class RedisUnavailableError extends Error {
  /** @param host The configured Redis host that did not answer, if one was configured. */
  constructor(host?: string) {
    super(
      host
        ? `Cannot start: Redis at ${host} (REDIS_URL) does not answer; start it or fix REDIS_URL`
        : "Cannot start: Redis is not reachable at 127.0.0.1:6379 and redis-server is not on PATH; " +
          "install Redis (e.g. apt-get install redis-server) or set REDIS_URL",
    );
    this.name = "RedisUnavailableError";
  }
}

/** A Redis URL and, when Coffer started the server itself, the means to stop it. */
export interface ResolvedRedis extends AsyncDisposable {
  url: string;
  /** True when Coffer spawned the server. */
  embedded: boolean;
}

/** Sends PING over a raw TCP connection; true if Redis answers within `timeoutMs`. */
export async function redisAnswers(
  address: { hostname: string; port: number },
  timeoutMs = 500,
): Promise<boolean> {
  const timer = AbortSignal.timeout(timeoutMs);
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Promise.race([
      Deno.connect(address),
      new Promise<never>((_, reject) =>
        timer.addEventListener("abort", () => reject(timer.reason))
      ),
    ]);
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const reply = new Uint8Array(64);
    const n = await Promise.race([
      conn.read(reply),
      new Promise<never>((_, reject) =>
        timer.addEventListener("abort", () => reject(timer.reason))
      ),
    ]);
    return n !== null && new TextDecoder().decode(reply.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Options of {@linkcode spawnRedisServer}. */
export interface SpawnRedisOptions {
  /** The executable to run (tests point it at a missing one). */
  binary?: string;
  /** The loopback port; a free one when unset (set it to restart on the same one). */
  port?: number;
}

/**
 * Starts `redis-server` on a loopback port with AOF under `<dataDir>/redis`;
 * started again on the same port and directory it finds its data again.
 *
 * @throws {RedisUnavailableError} if the binary is not found.
 */
export async function spawnRedisServer(
  dataDir: string,
  log: Logger,
  options: SpawnRedisOptions = {},
): Promise<ResolvedRedis> {
  const { binary = "redis-server", port = freeLoopbackPort() } = options;
  const dir = `${dataDir}/redis`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(binary, {
      args: [
        "--bind",
        "127.0.0.1",
        "--port",
        String(port),
        "--dir",
        await Deno.realPath(dir),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new RedisUnavailableError();
    throw error;
  }
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await child.status;
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await redisAnswers({ hostname: "127.0.0.1", port })) {
      log.info("redis.embedded", { port, dir });
      return { url: `redis://127.0.0.1:${port}`, embedded: true, [Symbol.asyncDispose]: stop };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error("Cannot start embedded redis-server: it did not answer within 10 s");
}

/**
 * Finds or starts Redis, following the spec's order.
 *
 * @param redisUrl `REDIS_URL` from the config, if set.
 * @param dataDir Where a spawned server keeps its AOF files.
 * @returns The URL to use; dispose it to stop a spawned server.
 * @throws {RedisUnavailableError} when there is no Redis and no redis-server binary.
 */
export async function resolveRedis(
  redisUrl: string | undefined,
  dataDir: string,
  log: Logger,
  options: { defaultAddress?: { hostname: string; port: number }; binary?: string } = {},
): Promise<ResolvedRedis> {
  const none = async () => {};
  if (redisUrl) return { url: redisUrl, embedded: false, [Symbol.asyncDispose]: none };
  const address = options.defaultAddress ?? DEFAULT_REDIS;
  if (await redisAnswers(address)) {
    return {
      url: `redis://${address.hostname}:${address.port}`,
      embedded: false,
      [Symbol.asyncDispose]: none,
    };
  }
  return await spawnRedisServer(dataDir, log, { binary: options.binary });
}
