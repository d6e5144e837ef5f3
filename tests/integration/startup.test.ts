/**
 * The process as an operator runs it: `main.ts` starts with embedded
 * defaults, answers health checks, stops cleanly on SIGTERM, and refuses to
 * start with a readable one-line message when configuration, Redis, the data
 * directory or the object store is bad, or its port is taken.
 */
import assert from "node:assert/strict";
import { redisAnswers, RedisUnavailableError, resolveRedis } from "../../storage/redis_server.ts";
import { silentLogger } from "../../log.ts";
import { flushPrefix, freePort, tempDir, TEST_REDIS_URL, uniquePrefix } from "../helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function runMain(env: Record<string, string>, args: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Kills the process if it still runs, waits for it and releases its pipes. */
async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already stopped.
  }
  await child.status;
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel().catch(() => {});
}

async function waitForOk(url: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return Date.now() - started;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

Deno.test("main.ts serves /healthz and /readyz with no settings and stops on SIGTERM", async () => {
  await using dir = await tempDir();
  const prefix = uniquePrefix();
  const port = freePort();
  const child = runMain({
    PORT: String(port),
    COFFER_DATA_DIR: dir.path,
    COFFER_REDIS_PREFIX: prefix,
  });
  try {
    await waitForOk(`http://127.0.0.1:${port}/healthz`, 15_000);
    await waitForOk(`http://127.0.0.1:${port}/readyz`, 5_000);
    for (const name of ["master.keys", "jwt.secret"]) {
      assert.equal((await Deno.stat(`${dir.path}/${name}`)).mode! & 0o777, 0o600, name);
    }
    const stopping = Date.now();
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0);
    assert.ok(Date.now() - stopping < 10_000, "stopped within 10 s");
    const output = new TextDecoder().decode((await child.output().catch(() => null))?.stdout);
    assert.doesNotMatch(output, /"key"|secret":/);
  } finally {
    await stopChild(child);
    await flushPrefix(prefix);
  }
});

Deno.test("main.ts refuses PORT=abc with one message naming the variable", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: { PORT: "abc", COFFER_TOKEN_TTL: "zero", RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
  }).output();
  assert.equal(code, 1);
  const message = new TextDecoder().decode(stderr).trim();
  assert.equal(message.split("\n").length, 1);
  assert.match(message, /PORT/);
  assert.match(message, /COFFER_TOKEN_TTL/);
});

/** Runs main.ts to completion with `env` (plus a free port and test Redis); returns code and stderr. */
async function startAndFail(
  env: Record<string, string>,
): Promise<{ code: number; message: string }> {
  const prefix = uniquePrefix();
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      env: {
        PORT: String(freePort()),
        COFFER_REDIS_PREFIX: prefix,
        REDIS_URL: TEST_REDIS_URL,
        RUST_BACKTRACE: "0",
        NO_COLOR: "1",
        ...env,
      },
      stdin: "null",
      signal: AbortSignal.timeout(30_000),
    }).output();
    return { code, message: new TextDecoder().decode(stderr).trim() };
  } finally {
    await flushPrefix(prefix);
  }
}

Deno.test("main.ts exits 1 with one line, not a stack trace, when its port is taken", async () => {
  await using dir = await tempDir();
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  const { code, message } = await startAndFail({ COFFER_DATA_DIR: dir.path, PORT: String(port) });
  assert.equal(code, 1);
  assert.equal(
    message,
    `Cannot listen on 127.0.0.1:${port}: the address is already in use (another Coffer? set PORT)`,
  );
});

Deno.test("main.ts exits 1 with one line when the data directory cannot be created", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/a-file`;
  await Deno.writeTextFile(file, "");
  const { code, message } = await startAndFail({ COFFER_DATA_DIR: `${file}/data` });
  assert.equal(code, 1);
  assert.equal(message.split("\n").length, 1, message);
  assert.match(message, /^Cannot use the data directory .*a-file\/data \(COFFER_DATA_DIR\): /);
});

Deno.test("main.ts exits 1 with one line when COFFER_CRYPTO_ENGINE=openssl cannot load", async () => {
  await using dir = await tempDir();
  const { code, message } = await startAndFail({
    COFFER_DATA_DIR: dir.path,
    COFFER_CRYPTO_ENGINE: "openssl",
    COFFER_LIBCRYPTO: `${dir.path}/libcrypto.so.3`,
  });
  assert.equal(code, 1);
  assert.equal(message.split("\n").length, 1, message);
  assert.match(message, /^Cannot use COFFER_CRYPTO_ENGINE=openssl: Cannot load libcrypto 3: /);
});

Deno.test("main.ts exits 1 with one line when the S3 endpoint does not answer", async () => {
  await using dir = await tempDir();
  const endpoint = `http://127.0.0.1:${freePort()}`;
  const { code, message } = await startAndFail({
    COFFER_DATA_DIR: dir.path,
    S3_ENDPOINT: endpoint,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  });
  assert.equal(code, 1);
  assert.equal(message.split("\n").length, 1, message);
  assert.match(message, new RegExp(`^Cannot open S3 bucket coffer at ${endpoint}: `));
  assert.match(message, /check S3_ENDPOINT, S3_BUCKET and the AWS credentials\)$/);
  assert.doesNotMatch(message, /test/, "no credential in the message");
});

Deno.test("main.ts exits non-zero with one line when the configured Redis does not answer", async () => {
  await using dir = await tempDir();
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: {
      REDIS_URL: `redis://127.0.0.1:${freePort()}`,
      COFFER_DATA_DIR: dir.path,
      PORT: String(freePort()),
      RUST_BACKTRACE: "0",
      NO_COLOR: "1",
    },
    stdin: "null",
  }).output();
  assert.notEqual(code, 0);
  const message = new TextDecoder().decode(stderr).trim();
  assert.match(message, /Redis/);
  assert.equal(message.split("\n").length, 1);
});

Deno.test("resolveRedis() explains how to get Redis when none answers and redis-server is missing", async () => {
  await using dir = await tempDir();
  await assert.rejects(
    resolveRedis(undefined, dir.path, silentLogger, {
      defaultAddress: { hostname: "127.0.0.1", port: freePort() },
      binary: "redis-server-that-does-not-exist",
    }),
    (error: Error) => error instanceof RedisUnavailableError && /REDIS_URL/.test(error.message),
  );
});

Deno.test("resolveRedis() spawns redis-server with AOF in the data dir and stops it on dispose", async () => {
  await using dir = await tempDir();
  const resolved = await resolveRedis(undefined, dir.path, silentLogger, {
    defaultAddress: { hostname: "127.0.0.1", port: freePort() },
  });
  const port = Number(new URL(resolved.url).port);
  try {
    assert.equal(resolved.embedded, true);
    assert.ok(await redisAnswers({ hostname: "127.0.0.1", port }));
    assert.ok((await Deno.stat(`${dir.path}/redis`)).isDirectory);
  } finally {
    await resolved[Symbol.asyncDispose]();
  }
  assert.equal(await redisAnswers({ hostname: "127.0.0.1", port }), false, "no orphan server");
});

Deno.test("resolveRedis() prefers REDIS_URL, then the default address", async () => {
  await using dir = await tempDir();
  await using configured = await resolveRedis("redis://example:1", dir.path, silentLogger);
  assert.equal(configured.url, "redis://example:1");
  const url = new URL(TEST_REDIS_URL);
  await using found = await resolveRedis(undefined, dir.path, silentLogger, {
    defaultAddress: { hostname: url.hostname, port: Number(url.port) },
  });
  assert.equal(found.embedded, false);
});

Deno.test("a worker-only process serves /healthz and /metrics on COFFER_WORKER_PORT", async () => {
  await using dir = await tempDir();
  const prefix = uniquePrefix();
  const port = freePort();
  const child = runMain({
    COFFER_WORKER_PORT: String(port),
    COFFER_DATA_DIR: dir.path,
    COFFER_REDIS_PREFIX: prefix,
  }, ["worker"]);
  try {
    await waitForOk(`http://127.0.0.1:${port}/healthz`, 15_000);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /coffer_uploads_stored_total/);
    const api = await fetch(`http://127.0.0.1:${port}/api/files`);
    await api.body?.cancel();
    assert.equal(api.status, 404, "the API itself is not served by a worker");
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
  } finally {
    await stopChild(child);
    await flushPrefix(prefix);
  }
});
