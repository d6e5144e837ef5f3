/**
 * S3 cutting the connection in the middle of a download — of `/content`, of
 * `/ciphertext`, and of a `Range` of either: the response is aborted, so a
 * client never takes a short body for the whole file (never a clean 200 or
 * 206 with fewer bytes), and the failure is logged once, with the file id,
 * as a store failure (not as an integrity failure and not as a bug). A cut
 * before the first byte is a 503. The store is fauxqs behind
 * tests/fault_proxy.ts.
 */
import assert from "node:assert/strict";
import { isOperation } from "../s3_operation.ts";
import { signUp, waitForFile } from "../test_server.ts";
import { download, logLines, startFaultyServer } from "./_faults.ts";
import { KIB, markedPlaintext, MIB, uploadAccepted } from "./_pipeline.ts";

const SIZE = 3 * MIB;

interface Case {
  name: string;
  part: "content" | "ciphertext";
  range?: string;
  status: number;
  /** Which GetObject of the download to cut (a plaintext range reads the header and last chunk first). */
  nth: number;
}

const CASES: Case[] = [
  { name: "/content", part: "content", status: 200, nth: 1 },
  { name: "/ciphertext", part: "ciphertext", status: 200, nth: 1 },
  // Header, final chunk, then ~1 MiB windows: the fourth read is the range's second window.
  {
    name: "a Range of /content",
    part: "content",
    range: "bytes=1000-2999999",
    status: 206,
    nth: 4,
  },
  {
    name: "a Range of /ciphertext",
    part: "ciphertext",
    range: "bytes=1000-2999999",
    status: 206,
    nth: 1,
  },
];

for (const { name, part, range, status, nth } of CASES) {
  Deno.test(`S3 cutting the connection mid-download of ${name} aborts the response and logs it once`, async () => {
    await using faulty = await startFaultyServer();
    const { server, proxy } = faulty;
    const user = await signUp(server);
    const record = await uploadAccepted(server, user, "raw", markedPlaintext(SIZE));
    assert.equal((await waitForFile(server, user, record.id)).status, "stored");
    let gets = 0;
    const cut = proxy.add({
      match: isOperation("GetObject", () => ++gets === nth),
      fault: { kind: "reset", afterBytes: 300 * KIB },
    });
    const headers: Record<string, string> = { ...user.headers, ...(range ? { Range: range } : {}) };
    const outcome = await download(`${server.url}/api/files/${record.id}/${part}`, headers);
    assert.equal(cut.hits, 1);
    assert.equal(outcome.status, status);
    assert.equal(outcome.ended, "error", "the response is aborted, not ended");
    assert.ok(outcome.bytes < (range ? 2999999 - 1000 + 1 : SIZE), `${outcome.bytes} bytes`);

    const failures = logLines(server, "download.failed");
    assert.deepEqual(failures.map((line) => [line.level, line.file_id, line.phase, line.error]), [
      ["error", record.id, "mid-stream", "ObjectStoreUnavailableError"],
    ]);
    assert.deepEqual(logLines(server, "download.integrity_failure"), []);
    assert.deepEqual(logLines(server, "request.failed"), []);
  });
}

Deno.test("S3 cutting the connection before the first byte of a download is a 503, not a short 200", async () => {
  await using faulty = await startFaultyServer();
  const { server, proxy } = faulty;
  const user = await signUp(server);
  const record = await uploadAccepted(server, user, "raw", markedPlaintext(SIZE));
  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  proxy.add({ match: isOperation("GetObject"), fault: { kind: "reset", afterBytes: 0 } });
  for (const part of ["content", "ciphertext"]) {
    const response = await fetch(`${server.url}/api/files/${record.id}/${part}`, {
      headers: user.headers,
    });
    assert.equal(response.status, 503, part);
    assert.equal(response.headers.get("Retry-After"), "5");
    await response.body?.cancel();
  }
  assert.deepEqual(logLines(server, "object_store.unavailable").map((line) => line.file_id), [
    record.id,
    record.id,
  ]);
  assert.deepEqual(logLines(server, "request.failed"), []);
});
