/**
 * Storage limits (SPEC section 15): staged bytes never exceed the quota
 * (a raw body reserves its declared length before staging, multipart parts
 * reserve as their bytes arrive), a user keeps at most `COFFER_MAX_FILES`
 * files, and the compatible name look-up reads an index, not every page.
 *
 * "Two API processes" are two API instances in this test process over one
 * Redis prefix, one staging dir and one set of keys, each with its own
 * Redis connections: every decision is made in Redis.
 */
import assert from "node:assert/strict";
import type { Config } from "../../config.ts";
import { type FileRecord, FileStore } from "../../storage/file_store.ts";
import { connectMetadataRedis } from "../../storage/redis.ts";
import { flushPrefix, randomBytes, tempDir, TEST_REDIS_URL, uniquePrefix } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import { connectRaw, multipartUpload, rawUploadHead } from "./_raw_http.ts";
import { getJson, sleep, stagedIds } from "./_pipeline.ts";

/** Two API instances sharing one deployment (prefix, staging, keys, secret). */
async function startTwoApis(config: Partial<Config> = {}) {
  const stack = new AsyncDisposableStack();
  const dir = stack.use(await tempDir());
  const shared: Partial<Config> = {
    redisPrefix: uniquePrefix(),
    dataDir: dir.path,
    masterKeys: [{ kid: "k1", key: randomBytes(32) }],
    jwtSecret: randomBytes(32),
    ...config,
  };
  const a = await startTestServer({ config: shared });
  const b = await startTestServer({ config: shared });
  stack.defer(() => a[Symbol.asyncDispose]());
  stack.defer(() => b[Symbol.asyncDispose]());
  return { a, b, [Symbol.asyncDispose]: () => stack.disposeAsync() };
}

/** Samples the staging folder until stopped; returns the most bytes staged at once. */
function watchStaging(dir: string) {
  let running = true;
  let most = 0;
  const sampling = (async () => {
    while (running) {
      let total = 0;
      for await (const entry of Deno.readDir(dir)) {
        const info = await Deno.stat(`${dir}/${entry.name}`).catch(() => undefined);
        total += info?.size ?? 0;
      }
      most = Math.max(most, total);
      await sleep(1);
    }
  })();
  return {
    async stop() {
      running = false;
      await sampling;
      return most;
    },
  };
}

/** Sends `head` then `body` in pieces with pauses (so uploads overlap); returns the answer. */
async function slowUpload(server: TestServer, head: string, body: Uint8Array) {
  using conn = await connectRaw(server);
  await conn.send(head);
  const piece = 100_000;
  for (let offset = 0; offset < body.length && !conn.closed(); offset += piece) {
    if (!await conn.send(body.subarray(offset, offset + piece))) break;
    await sleep(30);
  }
  return await conn.response;
}

for (const form of ["raw", "multipart"] as const) {
  Deno.test(`10 concurrent 900 KB ${form} uploads against a 1 MB quota never stage more than the quota; one is kept`, async () => {
    const quota = 1_000_000;
    await using apis = await startTwoApis({ quotaBytes: quota, maxConcurrentUploads: 10 });
    const { a, b } = apis;
    const user = await signUp(a);
    const staging = watchStaging(a.services.staging.dir);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => {
      const payload = randomBytes(900_000);
      const { head, body } = form === "raw"
        ? { head: rawUploadHead(user, payload.length, `f${i}`), body: payload }
        : multipartUpload(user, payload, `f${i}`);
      return slowUpload(i % 2 === 0 ? a : b, head, body);
    }));
    const most = await staging.stop();
    assert.ok(most <= quota, `${most} bytes were staged at once`);
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [202, ...Array(9).fill(413)], JSON.stringify(statuses));
    for (const answer of answers.filter((answer) => answer.status === 413)) {
      assert.equal(JSON.parse(answer.body).type, "https://coffer.invalid/problems/quota-exceeded");
    }
    assert.equal((await getJson(a, user, "/api/files")).body.files.length, 1);
    assert.equal((await getJson(b, user, "/api/me")).body.used_bytes, 900_000);
    assert.equal((await stagedIds(a)).length, 1, "only the kept upload is staged");
    assert.equal(await a.services.uploadSlots.openCount(user.id), 0);
  });
}

async function uploadEmpty(server: TestServer, user: TestUser, name: string) {
  const response = await fetch(`${server.url}/api/files?name=${name}`, {
    method: "POST",
    headers: user.headers,
    body: new Uint8Array(0),
  });
  return { status: response.status, body: await response.json() };
}

Deno.test("a user keeps at most COFFER_MAX_FILES files, 0-byte files included, across two APIs", async () => {
  await using apis = await startTwoApis({ maxFiles: 3 });
  const { a, b } = apis;
  const user = await signUp(a);
  // Six at once through both APIs: exactly three are kept.
  const answers = await Promise.all(
    Array.from({ length: 6 }, (_, i) => uploadEmpty(i % 2 ? a : b, user, `empty-${i}`)),
  );
  const statuses = answers.map((answer) => answer.status).sort();
  assert.deepEqual(statuses, [202, 202, 202, 409, 409, 409], JSON.stringify(answers));
  const refused = answers.find((answer) => answer.status === 409)!;
  assert.equal(refused.body.type, "https://coffer.invalid/problems/file-limit-reached");
  assert.equal((await getJson(b, user, "/api/files")).body.files.length, 3);
  assert.equal((await stagedIds(a)).length, 3, "refused uploads leave nothing staged");

  // Deleting one makes room for one.
  const kept = answers.find((answer) => answer.status === 202)!;
  const deleted = await fetch(`${a.url}/api/files/${kept.body.id}`, {
    method: "DELETE",
    headers: user.headers,
  });
  assert.equal(deleted.status, 204);
  assert.equal((await uploadEmpty(b, user, "after-delete")).status, 202);
  assert.equal((await uploadEmpty(a, user, "one-too-many")).status, 409);
  // Another user has their own count.
  assert.equal((await uploadEmpty(a, await signUp(b), "theirs")).status, 202);
});

function storedRecord(owner: string, name: string, createdAt: number): FileRecord {
  return {
    id: crypto.randomUUID().replaceAll("-", ""),
    owner,
    name,
    size: 1,
    content_type: "application/octet-stream",
    status: "stored",
    created_at: new Date(createdAt).toISOString(),
    kid: "k1",
  };
}

Deno.test("FileStore.findNewestStored() reads the name index, not every page of the owner's files", async () => {
  const prefix = uniquePrefix();
  const redis = connectMetadataRedis(TEST_REDIS_URL, prefix);
  try {
    const files = new FileStore(redis);
    const owner = "owner1";
    const start = Date.parse("2026-01-01T00:00:00Z");
    const wanted = storedRecord(owner, "report.pdf", start);
    await files.create(wanted);
    for (let i = 1; i <= 600; i++) await files.create(storedRecord(owner, `other-${i}`, start + i));
    let pagesRead = 0;
    const list = files.list.bind(files);
    files.list = (...args) => {
      pagesRead++;
      return list(...args);
    };
    // The first look-up of an owner indexes files from before the index existed, once.
    assert.equal((await files.findNewestStored(owner, "report.pdf"))?.id, wanted.id);
    pagesRead = 0;
    assert.equal((await files.findNewestStored(owner, "report.pdf"))?.id, wanted.id);
    assert.equal(await files.findNewestStored(owner, "missing.pdf"), undefined);
    assert.equal(pagesRead, 0, "a look-up read pages of the listing");

    // The newest stored file of the name wins; queued, failed and deleted ones never do.
    const newer = storedRecord(owner, "report.pdf", start + 1000);
    await files.create({ ...newer, status: "queued" });
    assert.equal((await files.findNewestStored(owner, "report.pdf"))?.id, wanted.id);
    await files.update(newer.id, { status: "stored" });
    assert.equal((await files.findNewestStored(owner, "report.pdf"))?.id, newer.id);
    await files.delete(newer);
    assert.equal((await files.findNewestStored(owner, "report.pdf"))?.id, wanted.id);
    const failed = storedRecord(owner, "report.pdf", start + 2000);
    await files.create({ ...failed, status: "failed" });
    assert.equal((await files.findNewestStored(owner, "report.pdf"))?.id, wanted.id);
    assert.equal(pagesRead, 0);
    assert.equal(await files.findNewestStored("owner2", "report.pdf"), undefined);

    // After Redis lost everything, reindex restores records through restore(): found again.
    await flushPrefix(prefix);
    assert.equal(await files.restore(wanted), true);
    assert.equal((await files.findNewestStored(owner, "report.pdf"))?.id, wanted.id);
  } finally {
    await redis.quit();
    await flushPrefix(prefix);
  }
});
