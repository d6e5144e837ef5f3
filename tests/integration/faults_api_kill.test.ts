/**
 * An API process SIGKILLed in the middle of an upload: whatever it left — a
 * partial file in staging, bytes held against the owner's quota, a record it
 * saved but never queued — is freed by the janitor, whose own timer runs here
 * with a short interval and age limit, and no record stays `queued` for ever.
 * The quota it reserved and the upload slot it took are freed by their
 * lifetime in Redis (`COFFER_UPLOAD_SLOT_TTL_SECONDS`, a few seconds here).
 *
 * The API runs as a `main.ts api` subprocess sharing this test server's
 * Redis prefix and data directory; the janitor runs in the test process. To
 * kill the API between saving the record and queueing the job, its Redis
 * connection goes through a proxy that freezes when the job is added.
 */
import assert from "node:assert/strict";
import { INTERRUPTED_REASON, startJanitor } from "../../workers/janitor.ts";
import { startFreezingProxy } from "../freezing_proxy.ts";
import { markedPlaintext, MIB, sleep, stagedIds, upload } from "./_pipeline.ts";
import { eventually, getJson } from "./_pipeline.ts";
import { PROCESS_CONFIG, spawnCoffer } from "./_processes.ts";
import { logLines } from "./_faults.ts";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";

/** The janitor's timer, fast: every 100 ms, anything older than a second. */
const FAST_JANITOR = { intervalMs: 100, minAgeMs: 1000 };

/** Opens a raw upload of `size` bytes to `url` and sends the first `sent` of them. */
async function startUpload(url: string, user: TestUser, size: number, sent: number) {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const head = `POST /api/files?name=big.bin HTTP/1.1\r\nHost: ${hostname}\r\n` +
    `Authorization: ${user.headers.Authorization}\r\n` +
    `Content-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`;
  await conn.write(new TextEncoder().encode(head));
  const body = markedPlaintext(sent);
  for (let written = 0; written < body.length;) written += await conn.write(body.subarray(written));
  return conn;
}

/** A short slot lifetime, so a dead API's reservation is freed within the test. */
const SLOT_TTL_SECONDS = 4;

/**
 * Starts an API with the short slot lifetime (and `env`), has it stage the
 * first MiB of a raw upload of `size` bytes, then SIGKILLs it.
 *
 * @returns When it was killed (ms): its slot was last refreshed before that.
 */
async function killMidUpload(
  server: TestServer,
  user: TestUser,
  size: number,
  env: Record<string, string> = {},
): Promise<number> {
  await using api = await spawnCoffer("api", server, {
    COFFER_UPLOAD_SLOT_TTL_SECONDS: String(SLOT_TTL_SECONDS),
    ...env,
  });
  const conn = await startUpload(api.url, user, size, MIB);
  try {
    await eventually("the body to land in staging", async () => {
      const files = await server.services.staging.list();
      return files.length === 1 && files[0].size > 0;
    });
    assert.equal((await api.kill()).signal, "SIGKILL");
    return Date.now();
  } finally {
    conn.close();
  }
}

/** Waits until the dead API's slot has outlived its lifetime (plus a margin for clock reads). */
async function outliveSlot(killedAt: number): Promise<void> {
  await sleep(killedAt + SLOT_TTL_SECONDS * 1000 + 500 - Date.now());
}

async function usedBytes(server: TestServer, user: TestUser): Promise<number> {
  return (await getJson(server, user, "/api/me")).body.used_bytes;
}

Deno.test("an API killed mid-upload leaves a partial staged file that the janitor's timer removes", async () => {
  await using server = await startTestServer({ config: PROCESS_CONFIG });
  const user = await signUp(server);
  await using api = await spawnCoffer("api", server);
  const size = 8 * MIB;
  const conn = await startUpload(api.url, user, size, 3 * MIB);
  try {
    const [partial] = await eventually("the body to land in staging", async () => {
      const files = await server.services.staging.list();
      return files.length === 1 && files[0].size > 0 && files;
    });
    assert.equal((await api.kill()).signal, "SIGKILL");
    const left = await server.services.staging.list();
    assert.equal(left.length, 1);
    assert.ok(left[0].size < size, "a partial file is left behind");
    assert.equal(left[0].id, partial.id);
  } finally {
    conn.close();
  }
  assert.deepEqual((await getJson(server, user, "/api/files")).body.files, [], "no record");

  using _janitor = startJanitor(server.services, FAST_JANITOR);
  await eventually("the janitor to remove it", async () => (await stagedIds(server)).length === 0);
  assert.ok(logLines(server, "janitor.swept").some((line) => line.staged === 1));
  // Its reservation (made before staging) was never used bytes; the tests below show it expire.
  assert.equal(await usedBytes(server, user), 0, "no quota is counted as used");
  assert.deepEqual((await getJson(server, user, "/api/files")).body.files, []);
});

Deno.test("an API killed after saving the record but before queueing the job: the janitor fails the record and frees its bytes", async () => {
  await using server = await startTestServer({ config: PROCESS_CONFIG });
  const user = await signUp(server);
  const redisPort = Number(new URL(server.services.redisUrl).port);
  // BullMQ's add carries the job name; the record was saved by then, the job never is.
  await using freezer = startFreezingProxy(redisPort, "encrypt-and-store");
  await using api = await spawnCoffer("api", server, {
    REDIS_URL: `redis://127.0.0.1:${freezer.port}`,
  });
  const size = 2 * MIB;
  const conn = await startUpload(api.url, user, size, size);
  try {
    await freezer.frozen;
    assert.equal((await api.kill()).signal, "SIGKILL");
  } finally {
    conn.close();
  }
  const [stranded] = (await getJson(server, user, "/api/files")).body.files;
  assert.equal(stranded?.status, "queued", "the record was saved");
  assert.equal(await server.services.queue.getJob(stranded.id), undefined, "the job never was");
  assert.equal(await usedBytes(server, user), size, "its bytes are reserved");
  assert.deepEqual(await stagedIds(server), [stranded.id]);

  using _janitor = startJanitor(server.services, FAST_JANITOR);
  const failed = await eventually("the record to be settled", async () => {
    const record = (await getJson(server, user, `/api/files/${stranded.id}`)).body;
    return record.status !== "queued" && record;
  });
  assert.equal(failed.status, "failed");
  assert.equal(failed.error, INTERRUPTED_REASON);
  assert.equal(await usedBytes(server, user), 0, "its bytes are given back");
  assert.deepEqual(await stagedIds(server), []);
  assert.deepEqual(
    logLines(server, "janitor.stranded_upload").map((line) => line.file_id),
    [stranded.id],
  );
  const deleted = await fetch(`${server.url}/api/files/${stranded.id}`, {
    method: "DELETE",
    headers: user.headers,
  });
  assert.equal(deleted.status, 204, "the user can delete it");
  assert.equal(await usedBytes(server, user), 0, "deleting it gives nothing back twice");
});

Deno.test("an API killed mid-upload: the quota it reserved is refused to others until COFFER_UPLOAD_SLOT_TTL_SECONDS has passed, then freed", async () => {
  const quota = 10 * MIB;
  await using server = await startTestServer({ config: { ...PROCESS_CONFIG, quotaBytes: quota } });
  const user = await signUp(server);
  // A declared length is reserved in full before its first byte is staged.
  const killedAt = await killMidUpload(server, user, 8 * MIB);
  const next = markedPlaintext(4 * MIB); // fits the quota only without the dead reservation

  const refused = await upload(server, user, "raw", next, "next.bin");
  assert.ok(Date.now() < killedAt + SLOT_TTL_SECONDS * 1000, "asked within the lifetime");
  assert.equal(refused.status, 413, JSON.stringify(refused.body));
  assert.equal(refused.body.type, "https://coffer.invalid/problems/quota-exceeded");
  assert.equal(await usedBytes(server, user), 0, "the dead upload was never counted as used");

  await outliveSlot(killedAt);
  const accepted = await upload(server, user, "raw", next, "next.bin");
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  assert.equal(await usedBytes(server, user), 4 * MIB);
  assert.equal(await server.services.uploadSlots.openCount(user.id), 0, "no slot stays open");
});

Deno.test("an API killed mid-upload: a user at COFFER_MAX_CONCURRENT_UPLOADS=1 can upload again once COFFER_UPLOAD_SLOT_TTL_SECONDS has passed", async () => {
  await using server = await startTestServer({
    config: { ...PROCESS_CONFIG, maxConcurrentUploads: 1 },
  });
  const user = await signUp(server);
  const killedAt = await killMidUpload(server, user, 8 * MIB, {
    COFFER_MAX_CONCURRENT_UPLOADS: "1",
  });
  const small = markedPlaintext(1024);

  const refused = await upload(server, user, "raw", small, "small.bin");
  assert.ok(Date.now() < killedAt + SLOT_TTL_SECONDS * 1000, "asked within the lifetime");
  assert.equal(refused.status, 429, JSON.stringify(refused.body));
  assert.equal(refused.body.type, "https://coffer.invalid/problems/too-many-uploads");
  assert.equal(await server.services.uploadSlots.openCount(user.id), 1, "the dead API's slot");

  await outliveSlot(killedAt);
  assert.equal(await server.services.uploadSlots.openCount(user.id), 0, "its slot has expired");
  const accepted = await upload(server, user, "raw", small, "small.bin");
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
});
