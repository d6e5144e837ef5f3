/**
 * An S3 endpoint that accepts connections and never answers (or stops in the
 * middle of a body): every SDK call ends once `COFFER_S3_TIMEOUT_MS` passes
 * without a byte moving, so nothing waits for ever. An upload part that hangs
 * through all the SDK's attempts fails the job attempt, and the job's retry
 * stores the file; a download answers 503 (with Retry-After) when the store
 * hangs before its first byte, and is aborted — never a clean short 200 —
 * when it hangs after it. The store is fauxqs behind tests/fault_proxy.ts.
 */
import assert from "node:assert/strict";
import { ObjectStoreUnavailableError } from "../../storage/object_store.ts";
import { ciphertextKey } from "../../storage/object_keys.ts";
import { S3_MAX_ATTEMPTS } from "../../storage/s3_store.ts";
import { isOperation } from "../s3_operation.ts";
import { collect } from "../helpers.ts";
import { signUp, waitForFile } from "../test_server.ts";
import {
  counterValue,
  download,
  logLines,
  SHORT_S3_TIMEOUT_MS,
  startFaultyServer,
} from "./_faults.ts";
import { eventually, KIB, markedPlaintext, MIB, uploadAccepted } from "./_pipeline.ts";

const SHORT = { s3TimeoutMs: SHORT_S3_TIMEOUT_MS };

/** Far above what the timeouts add up to, far below "for ever". */
const BOUND_MS = 20_000;

Deno.test("an upload part S3 never answers is cut after COFFER_S3_TIMEOUT_MS, the job retries and stores the file", async () => {
  await using faulty = await startFaultyServer({ ...SHORT, config: { workerConcurrency: 1 } });
  const { server, proxy } = faulty;
  const user = await signUp(server);
  const hang = proxy.add({
    match: isOperation("UploadPart", (r) => r.query.get("partNumber") === "1"),
    fault: { kind: "hang" },
    times: S3_MAX_ATTEMPTS, // every attempt of the first job attempt's part 1
  });
  const plaintext = markedPlaintext(9 * MIB); // two parts: 8 MiB + the rest
  const started = Date.now();
  const record = await uploadAccepted(server, user, "raw", plaintext);
  const final = await waitForFile(server, user, record.id, BOUND_MS);
  assert.equal(final.status, "stored", JSON.stringify(final));
  assert.ok(Date.now() - started < BOUND_MS);
  assert.equal(hang.hits, S3_MAX_ATTEMPTS);

  await eventually("the job to complete", async () => {
    return await (await server.services.queue.getJob(record.id))?.isCompleted() ?? false;
  });
  assert.equal((await server.services.queue.getJob(record.id))?.attemptsMade, 2);
  const { metrics } = server.services;
  assert.equal(await counterValue(metrics.uploadRetries), 1);
  // At least the hung part's retries (more if the loaded machine let another part go silent).
  assert.ok(
    await counterValue(metrics.objectStoreRetries, { operation: "UploadPart" }) >=
      S3_MAX_ATTEMPTS - 1,
  );
  const retries = logLines(server, "job.retry");
  assert.deepEqual(
    retries.map((line) => [line.file_id, line.reason]),
    [[record.id, "The object store did not answer"]],
  );
  const content = await fetch(`${server.url}/api/files/${record.id}/content`, {
    headers: user.headers,
  });
  assert.ok(Buffer.from(await collect(content.body!)).equals(plaintext));
  assert.equal(
    await eventually("hung connections released", () => {
      return Promise.resolve(proxy.openConnections() === 0);
    }),
    true,
  );
});

Deno.test("a ranged download S3 never answers is a 503 with Retry-After once the timeout passes", async () => {
  await using faulty = await startFaultyServer(SHORT);
  const { server, proxy } = faulty;
  const user = await signUp(server);
  const record = await uploadAccepted(server, user, "raw", markedPlaintext(200 * KIB));
  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  proxy.add({
    match: isOperation("GetObject", (r) => r.headers.has("range")),
    fault: { kind: "hang" },
  });
  for (const part of ["content", "ciphertext"]) {
    const started = Date.now();
    const response = await fetch(`${server.url}/api/files/${record.id}/${part}`, {
      headers: { ...user.headers, Range: "bytes=100-199" },
    });
    const elapsed = Date.now() - started;
    assert.equal(response.status, 503, part);
    assert.equal(response.headers.get("Retry-After"), "5");
    await response.body?.cancel();
    assert.ok(elapsed >= SHORT_S3_TIMEOUT_MS, `${part} waited for the timeout (${elapsed} ms)`);
    assert.ok(elapsed < BOUND_MS, `${part} took ${elapsed} ms`);
  }
  const unavailable = logLines(server, "object_store.unavailable");
  assert.deepEqual(unavailable.map((line) => [line.file_id, line.route]), [
    [record.id, "/api/files/:id/content"],
    [record.id, "/api/files/:id/ciphertext"],
  ]);
  assert.equal(
    await eventually("hung connections released", () => {
      return Promise.resolve(proxy.openConnections() === 0);
    }),
    true,
  );
});

Deno.test("a HEAD S3 never answers fails with ObjectStoreUnavailableError after every attempt timed out", async () => {
  await using faulty = await startFaultyServer({ ...SHORT, worker: false });
  const { server, proxy } = faulty;
  const key = ciphertextKey("owner", "file");
  await server.services.store.put(key, new Blob([new Uint8Array(10)]).stream());
  const hang = proxy.add({ match: isOperation("HeadObject"), fault: { kind: "hang" } });
  const started = Date.now();
  await assert.rejects(server.services.store.head(key), ObjectStoreUnavailableError);
  const elapsed = Date.now() - started;
  assert.equal(hang.hits, S3_MAX_ATTEMPTS, "each attempt was cut by the timeout, then retried");
  assert.ok(elapsed >= S3_MAX_ATTEMPTS * SHORT_S3_TIMEOUT_MS, `${elapsed} ms`);
  assert.ok(elapsed < BOUND_MS, `${elapsed} ms`);
  hang.remove();
  assert.equal((await server.services.store.head(key))?.size, 10, "answers once S3 does");
});

Deno.test("a download S3 stops sending mid-body is aborted once the timeout passes, never ends as a short 200", async () => {
  await using faulty = await startFaultyServer(SHORT);
  const { server, proxy } = faulty;
  const user = await signUp(server);
  const size = 2 * MIB;
  const record = await uploadAccepted(server, user, "raw", markedPlaintext(size));
  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  proxy.add({ match: isOperation("GetObject"), fault: { kind: "stall", afterBytes: 600 * KIB } });
  for (const part of ["content", "ciphertext"]) {
    const started = Date.now();
    const outcome = await download(`${server.url}/api/files/${record.id}/${part}`, user.headers);
    assert.equal(outcome.status, 200, part);
    assert.equal(outcome.ended, "error", `${part}: the response is aborted`);
    assert.ok(outcome.bytes < size, part);
    assert.ok(Date.now() - started < BOUND_MS);
  }
  const failures = logLines(server, "download.failed");
  assert.deepEqual(failures.map((line) => [line.file_id, line.phase, line.error]), [
    [record.id, "mid-stream", "ObjectStoreUnavailableError"],
    [record.id, "mid-stream", "ObjectStoreUnavailableError"],
  ]);
  assert.equal(
    await eventually("stalled connections released", () => {
      return Promise.resolve(proxy.openConnections() === 0);
    }),
    true,
  );
});
