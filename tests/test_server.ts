/**
 * Starts a real Coffer API (and optionally its worker) on a free loopback
 * port for integration tests: real Redis under a unique prefix, a temp data
 * dir, and either the local object store or an in-process S3 (fauxqs).
 * Disposing stops the server, closes services, deletes the Redis keys and the
 * temp dir.
 */
import type { Config } from "../config.ts";
import { createApp } from "../app.ts";
import { createLogger, type Logger } from "../log.ts";
import { openServices, type Services } from "../services.ts";
import { flushPrefix, startS3, tempDir, testConfig } from "./helpers.ts";

/** A running test server. */
export interface TestServer extends AsyncDisposable {
  url: string;
  config: Config;
  services: Services;
  /** Every log line written so far (JSON strings). */
  logs: string[];
}

/** Options for {@linkcode startTestServer}. */
export interface TestServerOptions {
  /** Use an in-process S3 server instead of the local store. */
  s3?: boolean;
  config?: Partial<Config>;
}

/** Starts the API on a free port. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  await using stack = new AsyncDisposableStack();
  const dir = stack.use(await tempDir());
  const s3 = options.s3 ? stack.use(await startS3()) : undefined;
  const config = testConfig(dir.path, { s3Server: s3, ...options.config });
  stack.defer(() => flushPrefix(config.redisPrefix));
  const logs: string[] = [];
  const log: Logger = createLogger((line) => logs.push(line));
  const services = stack.use(await openServices(config, log));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createApp(services).fetch,
  );
  stack.defer(() => server.shutdown());
  const owned = stack.move();
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    config,
    services,
    logs,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}
