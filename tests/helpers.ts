/**
 * Shared test helpers: a fauxqs S3 server on a free port, temporary data
 * directories, a test configuration with a unique Redis prefix, and cleanup of
 * every Redis key under that prefix. Every helper is an async disposable, so
 * tests write `await using s3 = await startS3()` and cleanup always happens.
 */
import { startFauxqs } from "fauxqs";
import { Redis } from "ioredis";
import type { Config } from "../config.ts";

/** The Redis every integration test uses (CI makes sure it answers). */
export const TEST_REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";

/** A running in-process S3 server (fauxqs). */
export interface TestS3 extends AsyncDisposable {
  endpoint: string;
  bucket: string;
  stop(): Promise<void>;
}

/**
 * Starts fauxqs on a free loopback port with one empty bucket.
 * Keep objects small: it holds everything in memory and refuses bodies over 11 MiB.
 */
export async function startS3(bucket = "coffer-test"): Promise<TestS3> {
  const server = await startFauxqs({ port: 0, logger: false, host: "127.0.0.1" });
  server.createBucket(bucket);
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      await server.stop();
    }
  };
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    bucket,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** A temporary directory removed on dispose. */
export interface TempDir extends AsyncDisposable {
  path: string;
}

/** Creates a temporary directory. */
export async function tempDir(prefix = "coffer-test-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** A unique Redis key prefix for one test. */
export function uniquePrefix(): string {
  return `coffer-test-${crypto.randomUUID().slice(0, 12)}`;
}

/** Random bytes of any length (getRandomValues is limited to 64 KiB a call). */
export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65536)));
  }
  return bytes;
}

/** A fresh 32-byte key, base64. */
export function randomKeyBase64(): string {
  return btoa(String.fromCharCode(...randomBytes(32)));
}

/**
 * A complete configuration for tests: unique Redis prefix, a temp data dir,
 * generated master key and JWT secret, and S3 when `s3` is given.
 */
export function testConfig(
  dataDir: string,
  overrides: Partial<Config> & { s3Server?: TestS3 } = {},
): Config {
  const { s3Server, ...rest } = overrides;
  return {
    host: "127.0.0.1",
    port: 0,
    dataDir,
    redisUrl: TEST_REDIS_URL,
    redisPrefix: uniquePrefix(),
    s3: s3Server
      ? {
        endpoint: s3Server.endpoint,
        bucket: s3Server.bucket,
        region: "us-east-1",
        accessKeyId: "test",
        secretAccessKey: "test",
      }
      : undefined,
    masterKeys: [{ kid: "k1", key: randomBytes(32) }],
    jwtSecret: randomBytes(32),
    tokenTtlSeconds: 3600,
    refreshTtlSeconds: 14 * 24 * 3600,
    ticketTtlSeconds: 60,
    maxFileBytes: 64 * 1024 * 1024,
    quotaBytes: 1024 * 1024 * 1024,
    workerConcurrency: 2,
    jobLockMs: 30_000,
    jobBackoffMs: 1000,
    cryptoEngine: "auto",
    bodyIdleSeconds: 60,
    maxConcurrentUploads: 8,
    uploadSlotTtlSeconds: 60,
    maxFiles: 100_000,
    shareMaxTtlSeconds: 90 * 24 * 3600,
    uploadExpirySeconds: 86_400,
    ...rest,
  };
}

/** A loopback port that was free a moment ago (nothing listens on it now). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Deletes every Redis key under a test prefix (metadata and BullMQ keys). */
export async function flushPrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    await redis.quit();
  }
}

/** Collects a stream into one byte array (tests only; production code streams). */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A readable stream of `bytes`, delivered in pieces of `pieceSize`. */
export function streamOf(bytes: Uint8Array, pieceSize = 65536): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + pieceSize));
      offset += pieceSize;
    },
  });
}
