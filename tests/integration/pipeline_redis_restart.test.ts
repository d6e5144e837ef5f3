/**
 * Redis restarted under a running deployment (spec 6.5): with AOF on, an
 * upload queued before the restart is still processed afterwards, exactly
 * once, and a worker that was running across the restart goes on taking new
 * uploads. While Redis is down, the API answers 503 at once instead of
 * hanging. A job that is encrypting while Redis restarts completes exactly
 * once. Redis here is a private redis-server (AOF on, as the embedded one
 * runs), stopped with SIGTERM and started again on the same port and
 * directory.
 */
import assert from "node:assert/strict";
import { startWorkerRole } from "../../roles.ts";
import { silentLogger } from "../../log.ts";
import { spawnRedisServer } from "../../storage/redis_server.ts";
import { tempDir } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, waitForFile } from "../test_server.ts";
import { eventually, keysUnder, markedPlaintext, MIB, upload } from "./_pipeline.ts";
import { counterValue, logLines, startFaultyServer } from "./_faults.ts";
import { isOperation } from "../s3_operation.ts";

/** A redis-server of our own that can be stopped and started on the same port and directory. */
interface PrivateRedis extends AsyncDisposable {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
}

async function startPrivateRedis(dataDir: string): Promise<PrivateRedis> {
  const first = await spawnRedisServer(dataDir, silentLogger);
  let running: AsyncDisposable | undefined = first;
  const url = first.url;
  const port = Number(new URL(url).port);
  const stop = async () => {
    await running?.[Symbol.asyncDispose]();
    running = undefined;
  };
  const start = async () => {
    running = await spawnRedisServer(dataDir, silentLogger, { port });
  };
  return {
    url,
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    [Symbol.asyncDispose]: stop,
  };
}

/** Waits until the server's Redis connection is (`ready`) or is not (`!ready`) usable. */
function untilRedisReady(server: TestServer, ready: boolean): Promise<true> {
  const what = ready ? "the server to reconnect to Redis" : "the server to notice Redis stopping";
  return eventually(
    what,
    () => Promise.resolve(server.services.redis.status === "ready" === ready),
  );
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
  await untilRedisReady(server, true); // until then the API answers 503 (next test)

  await using _worker = await startWorkerRole(server.services);
  assert.equal((await waitForFile(server, user, before.body.id)).status, "stored");

  // The worker (and the API) reconnect: a second restart, then a new upload.
  await redis.restart();
  await untilRedisReady(server, true); // until then the API answers 503 (next test)
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

Deno.test("while Redis is down the API answers 503 at once, health and metrics still answer", async () => {
  await using dir = await tempDir();
  await using redis = await startPrivateRedis(dir.path);
  await using server = await startTestServer({ config: { redisUrl: redis.url } });
  const user = await signUp(server);
  await redis.stop();
  await untilRedisReady(server, false);

  const requests: [string, RequestInit][] = [
    ["/api/files", { headers: user.headers }],
    ["/api/me", { headers: user.headers }],
    ["/api/files?name=a.txt", { method: "POST", headers: user.headers, body: "hello" }],
    ["/api/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: user.username, password: "correct horse battery staple" }),
    }],
    ["/list_files", { headers: user.headers }],
  ];
  for (const [path, init] of requests) {
    const started = Date.now();
    const response = await fetch(`${server.url}${path}`, init);
    assert.equal(response.status, 503, path);
    assert.equal(response.headers.get("Retry-After"), "5");
    assert.equal((await response.json()).detail, "Redis is not answering; try again shortly");
    assert.ok(Date.now() - started < 2000, `${path} took ${Date.now() - started} ms`);
  }
  const healthz = await fetch(`${server.url}/healthz`);
  assert.equal(healthz.status, 200);
  await healthz.body?.cancel();
  const metrics = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  assert.equal(metrics.status, 200);
  await metrics.body?.cancel();

  await redis.start();
  await untilRedisReady(server, true);
  const listed = await fetch(`${server.url}/api/files`, { headers: user.headers });
  assert.equal(listed.status, 200);
  await listed.body?.cancel();
});

Deno.test("a job encrypting while Redis restarts completes exactly once", async () => {
  await using dir = await tempDir();
  await using redis = await startPrivateRedis(dir.path);
  await using faulty = await startFaultyServer({ config: { redisUrl: redis.url } });
  const { server, proxy } = faulty;
  const user = await signUp(server);
  // The encrypted file's upload is held at the store until Redis is back.
  const putCiphertext = isOperation("PutObject", (r) => r.path.includes("/files/"));
  const redisBack = Promise.withResolvers<void>();
  proxy.add({ match: putCiphertext, fault: { kind: "delay", until: redisBack.promise } });

  const sent = await upload(server, user, "raw", markedPlaintext(MIB));
  assert.equal(sent.status, 202);
  const id = sent.body.id;
  await eventually("the job to be uploading", () => {
    return Promise.resolve(proxy.requests.some(putCiphertext));
  });
  assert.equal((await server.services.files.get(id))?.status, "encrypting");
  await redis.restart();
  await untilRedisReady(server, true);
  redisBack.resolve();

  assert.equal((await waitForFile(server, user, id)).status, "stored");
  await eventually("the job to complete", async () => {
    return await (await server.services.queue.getJob(id))?.isCompleted() ?? false;
  });
  assert.equal((await server.services.queue.getJob(id))?.attemptsMade, 1, "one attempt");
  assert.equal(proxy.requests.filter(putCiphertext).length, 1, "uploaded once");
  assert.equal(logLines(server, "job.stored").length, 1);
  assert.equal(await counterValue(server.services.metrics.uploadsStored), 1);
  assert.deepEqual(await keysUnder(server.services.store, `files/${user.id}/`), [
    `files/${user.id}/${id}`,
  ]);
  const content = await fetch(`${server.url}/api/files/${id}/content`, { headers: user.headers });
  assert.equal((await content.arrayBuffer()).byteLength, MIB);
});
