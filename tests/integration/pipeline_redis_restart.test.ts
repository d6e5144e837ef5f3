/**
 * Redis restarted under a running deployment (spec 6.5): with AOF on, an
 * upload queued before the restart is still processed afterwards, exactly
 * once, and a worker that was running across the restart goes on taking new
 * uploads. Redis here is a private redis-server (AOF on, as the embedded one
 * runs), stopped with SIGTERM and started again on the same port and
 * directory.
 */
import assert from "node:assert/strict";
import { startWorkerRole } from "../../roles.ts";
import { silentLogger } from "../../log.ts";
import { spawnRedisServer } from "../../storage/redis_server.ts";
import { tempDir } from "../helpers.ts";
import { signUp, startTestServer, waitForFile } from "../test_server.ts";
import { keysUnder, markedPlaintext, upload } from "./_pipeline.ts";

/** A redis-server of our own that can be restarted on the same port and directory. */
interface PrivateRedis extends AsyncDisposable {
  url: string;
  restart(): Promise<void>;
}

async function startPrivateRedis(dataDir: string): Promise<PrivateRedis> {
  let running = await spawnRedisServer(dataDir, silentLogger);
  const port = Number(new URL(running.url).port);
  return {
    url: running.url,
    async restart() {
      await running[Symbol.asyncDispose]();
      running = await spawnRedisServer(dataDir, silentLogger, { port });
    },
    [Symbol.asyncDispose]: () => running[Symbol.asyncDispose](),
  };
}

Deno.test("an upload queued before a Redis restart is stored once afterwards, and the worker goes on", async () => {
  await using dir = await tempDir();
  await using redis = await startPrivateRedis(dir.path);
  await using server = await startTestServer({ config: { redisUrl: redis.url } });
  const user = await signUp(server);

  // Queued while no worker runs; then Redis restarts.
  const before = await upload(server, user, "raw", markedPlaintext(40_000));
  assert.equal(before.status, 202);
  await redis.restart();

  await using _worker = await startWorkerRole(server.services);
  assert.equal((await waitForFile(server, user, before.body.id)).status, "stored");

  // The worker (and the API) reconnect: a second restart, then a new upload.
  await redis.restart();
  const after = await upload(server, user, "raw", markedPlaintext(1000));
  assert.equal(after.status, 202, JSON.stringify(after.body));
  assert.equal((await waitForFile(server, user, after.body.id)).status, "stored");

  const objects = await keysUnder(server.services.store, `files/${user.id}/`);
  assert.deepEqual(
    objects.sort(),
    [
      `files/${user.id}/${before.body.id}`,
      `files/${user.id}/${after.body.id}`,
    ].sort(),
  );
});
