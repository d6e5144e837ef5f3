/**
 * tus and Coffer's limits: the declared length is held against the quota
 * from creation (413 before any byte, shared with `POST /api/files`),
 * termination and expiry give it back (the janitor frees expired uploads),
 * a PATCH in progress holds one of the user's upload slots, and an idle
 * PATCH body is cut with the bytes before the silence kept.
 */
import assert from "node:assert/strict";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import { sweep } from "../../workers/janitor.ts";
import { createUpload, offsetOf, patch, pausingPatch, tus } from "./_tus.ts";

const KIB = 1024;

async function rawUpload(server: TestServer, user: TestUser, size: number): Promise<number> {
  const answer = await fetch(`${server.url}/api/files?name=raw.bin`, {
    method: "POST",
    headers: { ...user.headers, "Content-Type": "application/octet-stream" },
    body: randomBytes(size) as BodyInit,
  });
  await answer.body?.cancel();
  return answer.status;
}

async function usedBytes(server: TestServer, user: TestUser): Promise<number> {
  return (await (await fetch(`${server.url}/api/me`, { headers: user.headers })).json()).used_bytes;
}

Deno.test("creation over the quota is 413 before any byte; the hold counts against every upload", async () => {
  await using server = await startTestServer({ config: { quotaBytes: 1000 * KIB } });
  const user = await signUp(server);
  const over = await tus(server, user, "POST", "/api/uploads", { "Upload-Length": "1024001" });
  assert.equal(over.status, 413);
  assert.equal(over.headers.get("Content-Type"), "application/problem+json");
  assert.deepEqual(await server.services.staging.list(), [], "nothing staged");

  const first = await createUpload(server, user, 600 * KIB);
  assert.equal(await server.services.uploadSlots.heldBytes(user.id), 600 * KIB);
  const second = await tus(server, user, "POST", "/api/uploads", {
    "Upload-Length": String(600 * KIB),
  });
  assert.equal(second.status, 413, "the first upload's hold leaves 400 KiB");
  assert.equal(await rawUpload(server, user, 500 * KIB), 413, "POST /api/files sees the hold too");
  assert.equal(await rawUpload(server, user, 300 * KIB), 202);
  assert.equal(await usedBytes(server, user), 300 * KIB);

  assert.equal((await tus(server, user, "DELETE", first)).status, 204);
  assert.equal(await server.services.uploadSlots.heldBytes(user.id), 0, "termination releases it");
  await createUpload(server, user, 600 * KIB);
});

Deno.test("a completed upload's hold becomes used bytes, once", async () => {
  await using server = await startTestServer({ config: { quotaBytes: 100 * KIB } });
  const user = await signUp(server);
  const path = await createUpload(server, user, 60 * KIB);
  assert.equal((await patch(server, user, path, 0, randomBytes(60 * KIB))).status, 204);
  assert.equal(await server.services.uploadSlots.heldBytes(user.id), 0);
  assert.equal(await usedBytes(server, user), 60 * KIB);
  const next = await tus(server, user, "POST", "/api/uploads", {
    "Upload-Length": String(50 * KIB),
  });
  assert.equal(next.status, 413);
});

Deno.test("sweep() frees expired tus uploads: staged bytes, quota hold and the upload", async () => {
  await using server = await startTestServer({
    config: { uploadExpirySeconds: 1, quotaBytes: 100 * KIB },
  });
  const user = await signUp(server);
  const expiring = await createUpload(server, user, 80 * KIB);
  assert.equal((await patch(server, user, expiring, 0, randomBytes(10 * KIB))).status, 204);
  const id = expiring.split("/").pop()!;
  const later = () => new Date(Date.now() + 2 * 60 * 60 * 1000);
  assert.equal((await sweep(server.services)).expired, 0, "not expired yet");
  assert.equal(await server.services.staging.size(id), 10 * KIB, "an old tus staging is kept");
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal((await tus(server, user, "HEAD", expiring)).status, 410);

  const swept = await sweep(server.services, later());
  assert.equal(swept.expired, 1);
  await assert.rejects(server.services.staging.size(id), Deno.errors.NotFound);
  assert.equal(await server.services.uploadSlots.heldBytes(user.id), 0);
  assert.equal((await tus(server, user, "HEAD", expiring)).status, 404);
  await createUpload(server, user, 80 * KIB); // the quota is free again
});

Deno.test("a PATCH in progress holds one of the user's upload slots (shared with POST /api/files)", async () => {
  await using server = await startTestServer({ config: { maxConcurrentUploads: 1 } });
  const user = await signUp(server);
  const path = await createUpload(server, user, 200 * KIB);
  const slow = pausingPatch(`${server.url}${path}`, user.headers, 0, randomBytes(200 * KIB), 1500);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await rawUpload(server, user, 1000), 429, "the PATCH holds the only slot");
  assert.equal((await slow).status, 204);
  assert.equal(await rawUpload(server, user, 1000), 202, "released when it ends");
});

Deno.test("a PATCH body idle for COFFER_BODY_IDLE_SECONDS is cut (408); the bytes before are kept", async () => {
  await using server = await startTestServer({ config: { bodyIdleSeconds: 1 } });
  const user = await signUp(server);
  const path = await createUpload(server, user, 100 * KIB);
  const cut = await pausingPatch(
    `${server.url}${path}`,
    user.headers,
    0,
    randomBytes(100 * KIB),
    4000,
  );
  assert.equal(cut.status, 408);
  assert.equal(await offsetOf(server, user, path), 50 * KIB, "resume where the body stopped");
  const slots = await server.services.uploadSlots.openCount(user.id);
  assert.equal(slots, 0, "the slot is released");
});
