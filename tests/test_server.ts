/**
 * Starts a real Coffer API (and optionally its worker) on a free loopback
 * port for integration tests: real Redis under a unique prefix, a temp data
 * dir, and either the local object store or an in-process S3 (fauxqs).
 * Disposing stops the server, closes services, deletes the Redis keys and the
 * temp dir.
 */
import type { Config } from "../config.ts";
import { createApp } from "../app.ts";
import { serveWithHeaderDeadline } from "../header_deadline.ts";
import { createLogger, type Logger } from "../log.ts";
import { startWorkerRole } from "../roles.ts";
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
  /** Also run the upload worker (and janitor) in this process. */
  worker?: boolean;
  config?: Partial<Config>;
  /** Shortens the header deadline (default 30 s). */
  headerDeadlineMs?: number;
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
  if (options.worker) stack.use(await startWorkerRole(services));
  // The production listener, header deadline included.
  const server = serveWithHeaderDeadline(
    { hostname: "127.0.0.1", port: 0, headerDeadlineMs: options.headerDeadlineMs },
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

/** A signed-in test user. */
export interface TestUser {
  id: string;
  username: string;
  token: string;
  /** `Authorization` header for fetch. */
  headers: Record<string, string>;
}

/** Registers a user with a random name and signs in. */
export async function signUp(server: TestServer, username?: string): Promise<TestUser> {
  const name = username ?? `user-${crypto.randomUUID().slice(0, 8)}`;
  const password = "correct horse battery staple";
  const registered = await fetch(`${server.url}/api/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: name, password }),
  });
  if (registered.status !== 201) {
    throw new Error(`register: ${registered.status} ${await registered.text()}`);
  }
  const { id } = await registered.json();
  const issued = await fetch(`${server.url}/api/auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: name, password }),
  });
  if (issued.status !== 200) throw new Error(`token: ${issued.status} ${await issued.text()}`);
  const { access_token: token } = await issued.json();
  return { id, username: name, token, headers: { Authorization: `Bearer ${token}` } };
}

/** Polls a file's status until it is `stored` or `failed` (or the timeout passes). */
export async function waitForFile(
  server: TestServer,
  user: TestUser,
  fileId: string,
  timeoutMs = 30_000,
): Promise<{ status: string; error?: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(`${server.url}/api/files/${fileId}/status`, {
      headers: user.headers,
    });
    const body = await response.json();
    if (body.status === "stored" || body.status === "failed") return body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`File ${fileId} did not finish within ${timeoutMs} ms`);
}
