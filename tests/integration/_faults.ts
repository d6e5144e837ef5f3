/**
 * Private helpers of the fault tests: a Coffer test server whose S3 (fauxqs)
 * is reached through the fault proxy with a short `COFFER_S3_TIMEOUT_MS`,
 * counters read from the server's metrics, structured log lines, and a
 * download read to its end or its failure.
 */
import type { Counter } from "prom-client";
import type { Config } from "../../config.ts";
import { type FaultProxy, startFaultProxy } from "../fault_proxy.ts";
import { startS3 } from "../helpers.ts";
import { startTestServer, type TestServer } from "../test_server.ts";

/**
 * The S3 timeout of the tests that make S3 hang: short, so a hang costs a few
 * seconds, yet long enough that the loaded test machine rarely trips it by itself.
 */
export const SHORT_S3_TIMEOUT_MS = 1000;

/** The S3 timeout of every other fault test: one the loaded machine never trips. */
export const LONG_S3_TIMEOUT_MS = 10_000;

/** A server on fauxqs behind a fault proxy. */
export interface FaultyServer extends AsyncDisposable {
  server: TestServer;
  proxy: FaultProxy;
}

/**
 * Starts fauxqs, a fault proxy in front of it, and a test server (with its
 * worker unless `worker: false`) that reaches S3 only through the proxy, with
 * `COFFER_S3_TIMEOUT_MS` = `s3TimeoutMs` ({@linkcode LONG_S3_TIMEOUT_MS} by default).
 */
export async function startFaultyServer(
  options: { worker?: boolean; s3TimeoutMs?: number; config?: Partial<Config> } = {},
): Promise<FaultyServer> {
  await using stack = new AsyncDisposableStack();
  const s3 = stack.use(await startS3());
  const proxy = stack.use(startFaultProxy(s3.endpoint));
  const server = stack.use(
    await startTestServer({
      worker: options.worker ?? true,
      config: {
        s3: {
          endpoint: proxy.endpoint,
          bucket: s3.bucket,
          region: "us-east-1",
          accessKeyId: "test",
          secretAccessKey: "test",
          timeoutMs: options.s3TimeoutMs ?? LONG_S3_TIMEOUT_MS,
        },
        jobBackoffMs: 50,
        ...options.config,
      },
    }),
  );
  const owned = stack.move();
  return { server, proxy, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

/** The value of a counter (for one label set, or summed over all). */
export async function counterValue(
  counter: Counter<string>,
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((sample) => Object.entries(labels).every(([k, v]) => sample.labels[k] === v))
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** A parsed log line. */
// deno-lint-ignore no-explicit-any
export type LogLine = Record<string, any>;

/** The server's log lines, parsed, optionally only those of one event. */
export function logLines(server: TestServer, event?: string): LogLine[] {
  return server.logs.map((line) => JSON.parse(line) as LogLine)
    .filter((line) => event === undefined || line.event === event);
}

/** How a download ended: every byte and a clean end, or a failure after some bytes. */
export interface DownloadOutcome {
  status: number;
  bytes: number;
  ended: "clean" | "error";
}

/** Fetches a download and reads it to its end or its failure. */
export async function download(
  url: string,
  headers: Record<string, string>,
): Promise<DownloadOutcome> {
  const response = await fetch(url, { headers });
  let bytes = 0;
  try {
    for await (const chunk of response.body!) bytes += chunk.length;
  } catch {
    return { status: response.status, bytes, ended: "error" };
  }
  return { status: response.status, bytes, ended: "clean" };
}
