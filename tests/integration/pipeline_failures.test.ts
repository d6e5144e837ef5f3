/**
 * The worker when the object store is down: jobs are retried with backoff
 * and the file is stored once the store is back; if it stays down past the
 * last attempt the record is `failed` with a readable reason, the staged
 * file is removed and the owner's quota is released. Downloads and deletes
 * answer 503 with Retry-After while it is down. The S3 server (fauxqs)
 * is stopped and started again on the same port; the retry delay is
 * shortened with `jobBackoffMs` so all the attempts fit in a test.
 */
import assert from "node:assert/strict";
import { ciphertextSize } from "../../crypto/mod.ts";
import { collect } from "../helpers.ts";
import { UPLOAD_ATTEMPTS } from "../../workers/queue.ts";
import { signUp, startTestServer, waitForFile } from "../test_server.ts";
import {
  eventually,
  getJson,
  KIB,
  markedPlaintext,
  stagedIds,
  startRestartableS3,
  storedCiphertext,
  unfinishedUploads,
  uploadAccepted,
} from "./_pipeline.ts";

Deno.test("upload worker retries while the object store is down and stores the file once it is back", async () => {
  await using s3 = await startRestartableS3();
  await using server = await startTestServer({
    worker: true,
    config: { s3: s3.settings, jobBackoffMs: 300, workerConcurrency: 1 },
  });
  const user = await signUp(server);
  await s3.stop();

  const plaintext = markedPlaintext(40 * KIB);
  const record = await uploadAccepted(server, user, "raw", plaintext);
  await eventually("a failed first attempt", async () => {
    const job = await server.services.queue.getJob(record.id);
    return (job?.attemptsMade ?? 0) >= 1;
  });
  const retrying = (await getJson(server, user, `/api/files/${record.id}`)).body;
  assert.ok(["queued", "encrypting"].includes(retrying.status), retrying.status);
  assert.ok(await server.services.staging.size(record.id) > 0, "staging is kept for the retry");

  await s3.start();
  const final = await waitForFile(server, user, record.id);
  assert.equal(final.status, "stored", JSON.stringify(final));
  const stored = (await getJson(server, user, `/api/files/${record.id}`)).body;
  assert.equal(stored.error, undefined, "a stored record carries no stale error");
  assert.equal(
    (await storedCiphertext(server, user.id, record.id)).length,
    ciphertextSize(40 * KIB),
  );
  const download = await fetch(`${server.url}/api/files/${record.id}/content`, {
    headers: user.headers,
  });
  assert.ok(Buffer.from(await collect(download.body!)).equals(plaintext));
  assert.deepEqual(await stagedIds(server), []);
  assert.deepEqual(await unfinishedUploads(server.services.store), []);
  assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, 40 * KIB);
});

Deno.test("upload worker marks the file failed with a reason after the last attempt, removes staging and releases quota", async () => {
  await using s3 = await startRestartableS3();
  await using server = await startTestServer({
    worker: true,
    config: { s3: s3.settings, jobBackoffMs: 20, workerConcurrency: 1 },
  });
  const user = await signUp(server);
  await s3.stop();

  const record = await uploadAccepted(server, user, "multipart", markedPlaintext(20 * KIB));
  assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, 20 * KIB);
  const final = await waitForFile(server, user, record.id, 60_000);
  assert.equal(final.status, "failed");
  const reason = String(final.error);
  assert.equal(reason, "The object store did not answer", "no internal host in the reason");
  assert.doesNotMatch(reason, /\n\s+at /, "no stack trace");

  // The record turns `failed` inside the last attempt, a moment before BullMQ
  // moves the job to its failed set and counts that attempt.
  await eventually("the job in the failed set", async () => {
    return await (await server.services.queue.getJob(record.id))?.isFailed() ?? false;
  });
  const job = await server.services.queue.getJob(record.id);
  assert.equal(job?.attemptsMade, UPLOAD_ATTEMPTS, "every attempt before giving up");
  const failed = (await getJson(server, user, `/api/files/${record.id}`)).body;
  assert.equal(failed.status, "failed");
  assert.equal(failed.error, final.error);
  assert.deepEqual(await stagedIds(server), []);
  assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, 0, "quota released");
  const download = await fetch(`${server.url}/api/files/${record.id}/content`, {
    headers: user.headers,
  });
  assert.equal(download.status, 409);
  await download.body?.cancel();

  // Deleting a failed file does not give its bytes back a second time.
  await s3.start();
  const deleted = await fetch(`${server.url}/api/files/${record.id}`, {
    method: "DELETE",
    headers: user.headers,
  });
  assert.equal(deleted.status, 204);
  await deleted.body?.cancel();
  assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, 0);
});

Deno.test("downloads and deletes answer 503 with Retry-After while the object store is down", async () => {
  await using s3 = await startRestartableS3();
  await using server = await startTestServer({ worker: true, config: { s3: s3.settings } });
  const user = await signUp(server);
  const record = await uploadAccepted(server, user, "raw", markedPlaintext(1000));
  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  await s3.stop();
  const requests: [string, string][] = [
    ["GET", "content"],
    ["GET", "ciphertext"],
    ["DELETE", ""],
  ];
  for (const [method, part] of requests) {
    const path = `/api/files/${record.id}${part ? `/${part}` : ""}`;
    const response = await fetch(`${server.url}${path}`, { method, headers: user.headers });
    assert.equal(response.status, 503, `${method} ${path}`);
    assert.equal(response.headers.get("Retry-After"), "5");
    const problem = await response.json();
    assert.equal(problem.detail, "The object store is not answering; try again shortly");
    assert.doesNotMatch(JSON.stringify(problem), /127\.0\.0\.1|ECONNREFUSED/);
  }
  const logged = server.logs.map((line) => JSON.parse(line))
    .filter((line) => line.event === "object_store.unavailable");
  assert.equal(logged.length, 3);
});
