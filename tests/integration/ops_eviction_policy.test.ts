/**
 * An evicting Redis silently loses queued uploads, so the worker role checks
 * `maxmemory-policy` at start-up and warns unless it is `noeviction`. Each
 * case runs against a private redis-server with the policy under test (the
 * shared test Redis is left alone), so these tests need the redis-server
 * binary (`.ci/run` installs it when missing).
 */
import assert from "node:assert/strict";
import { freePort } from "../helpers.ts";
import { startTestServer } from "../test_server.ts";

/** A throwaway redis-server on a free loopback port. */
async function startRedis(policy: string): Promise<AsyncDisposable & { url: string }> {
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--maxmemory-policy",
      policy,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    child.kill("SIGTERM");
    await child.status;
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return { url: `redis://127.0.0.1:${port}`, [Symbol.asyncDispose]: stop };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await stop();
  throw new Error(`redis-server did not start on port ${port}`);
}

const warnings = (logs: string[]) =>
  logs.map((line) => JSON.parse(line)).filter((line) => line.event === "redis.eviction_policy");

Deno.test({
  name: "worker role warns at start-up when Redis may evict keys (allkeys-lru)",
  async fn() {
    await using redis = await startRedis("allkeys-lru");
    await using server = await startTestServer({ worker: true, config: { redisUrl: redis.url } });
    const [warning, ...more] = warnings(server.logs);
    assert.equal(more.length, 0);
    assert.equal(warning?.level, "warn");
    assert.equal(warning.policy, "allkeys-lru");
    assert.match(warning.advice, /noeviction/);
  },
});

Deno.test({
  name: "worker role starts quietly when Redis has maxmemory-policy noeviction",
  async fn() {
    await using redis = await startRedis("noeviction");
    await using server = await startTestServer({ worker: true, config: { redisUrl: redis.url } });
    assert.deepEqual(warnings(server.logs), []);
  },
});
