/**
 * An S3 endpoint that answers 503 SlowDown or 500 InternalError for a while:
 * each request is retried a bounded number of times with backoff and jitter
 * (the SDK's standard mode, {@linkcode S3_MAX_ATTEMPTS} attempts), a job
 * whose request still fails is retried with its own backoff, and the file is
 * stored once the store recovers. `coffer_object_store_retries_total` counts
 * every request sent again and `coffer_upload_retries_total` every job
 * attempt scheduled again. Downloads during the outage answer 503.
 */
import assert from "node:assert/strict";
import { S3_MAX_ATTEMPTS } from "../../storage/s3_store.ts";
import { collect } from "../helpers.ts";
import { isOperation } from "../s3_operation.ts";
import { signUp, waitForFile } from "../test_server.ts";
import { counterValue, logLines, startFaultyServer } from "./_faults.ts";
import { eventually, KIB, markedPlaintext, uploadAccepted } from "./_pipeline.ts";

const SLOW_DOWN = { kind: "status", status: 503, code: "SlowDown" } as const;
const INTERNAL = { kind: "status", status: 500, code: "InternalError" } as const;

/** The PutObject of an encrypted file (not of its key sidecar). */
const putCiphertext = isOperation("PutObject", (r) => r.path.includes("/files/"));

async function completedJob(
  server: Awaited<ReturnType<typeof startFaultyServer>>["server"],
  id: string,
) {
  await eventually("the job to complete", async () => {
    return await (await server.services.queue.getJob(id))?.isCompleted() ?? false;
  });
  return (await server.services.queue.getJob(id))!;
}

Deno.test("S3 answering 503 SlowDown twice: the request is retried, the job succeeds at once, two retries are counted", async () => {
  await using faulty = await startFaultyServer();
  const { server, proxy } = faulty;
  const user = await signUp(server);
  const slow = proxy.add({ match: putCiphertext, fault: SLOW_DOWN, times: 2 });
  const plaintext = markedPlaintext(100 * KIB);
  const record = await uploadAccepted(server, user, "raw", plaintext);
  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  assert.equal(slow.hits, 2);
  assert.equal((await completedJob(server, record.id)).attemptsMade, 1);
  const { metrics } = server.services;
  assert.equal(await counterValue(metrics.objectStoreRetries, { operation: "PutObject" }), 2);
  assert.equal(await counterValue(metrics.uploadRetries), 0);
  const scraped = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(scraped, /coffer_object_store_retries_total\{operation="PutObject"\} 2/);
});

Deno.test("S3 answering 500 for longer than the SDK retries: the job retries with backoff and stores the file once S3 recovers", async () => {
  await using faulty = await startFaultyServer({ config: { workerConcurrency: 1 } });
  const { server, proxy } = faulty;
  const user = await signUp(server);
  // Two job attempts fail outright (3 answers each); the third meets one more 500, then success.
  const failing = 2 * S3_MAX_ATTEMPTS + 1;
  const outage = proxy.add({ match: putCiphertext, fault: INTERNAL, times: failing });
  const plaintext = markedPlaintext(100 * KIB);
  const record = await uploadAccepted(server, user, "raw", plaintext);
  const final = await waitForFile(server, user, record.id);
  assert.equal(final.status, "stored", JSON.stringify(final));
  assert.equal(outage.hits, failing);
  assert.equal((await completedJob(server, record.id)).attemptsMade, 3);

  const { metrics } = server.services;
  const retriedRequests = 2 * (S3_MAX_ATTEMPTS - 1) + 1;
  assert.equal(
    await counterValue(metrics.objectStoreRetries, { operation: "PutObject" }),
    retriedRequests,
  );
  assert.equal(await counterValue(metrics.uploadRetries), 2);
  assert.deepEqual(
    logLines(server, "job.retry").map((line) => [line.attempt, line.reason]),
    [[1, "The object store did not answer"], [2, "The object store did not answer"]],
  );
  const puts = proxy.requests.filter(putCiphertext);
  assert.equal(puts.length, failing + 1, "bounded: no request beyond the attempts");
  const content = await fetch(`${server.url}/api/files/${record.id}/content`, {
    headers: user.headers,
  });
  assert.ok(Buffer.from(await collect(content.body!)).equals(plaintext));
  const stored = await fetch(`${server.url}/api/files/${record.id}`, { headers: user.headers });
  assert.equal((await stored.json()).error, undefined, "no stale error once stored");
});

Deno.test("while S3 answers 503 SlowDown to everything, downloads answer 503 with Retry-After and then work again", async () => {
  await using faulty = await startFaultyServer();
  const { server, proxy } = faulty;
  const user = await signUp(server);
  const plaintext = markedPlaintext(50 * KIB);
  const record = await uploadAccepted(server, user, "raw", plaintext);
  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  const outage = proxy.add({ fault: SLOW_DOWN });
  for (const part of ["content", "ciphertext"]) {
    const response = await fetch(`${server.url}/api/files/${record.id}/${part}`, {
      headers: user.headers,
    });
    assert.equal(response.status, 503, part);
    assert.equal(response.headers.get("Retry-After"), "5");
    assert.equal(
      (await response.json()).detail,
      "The object store is not answering; try again shortly",
    );
  }
  assert.equal(outage.hits, 2 * S3_MAX_ATTEMPTS);
  assert.equal(
    await counterValue(server.services.metrics.objectStoreRetries, { operation: "GetObject" }),
    2 * (S3_MAX_ATTEMPTS - 1),
  );
  assert.equal(logLines(server, "request.failed").length, 0, "not logged as a bug");
  outage.remove();
  const content = await fetch(`${server.url}/api/files/${record.id}/content`, {
    headers: user.headers,
  });
  assert.ok(Buffer.from(await collect(content.body!)).equals(plaintext));
});
