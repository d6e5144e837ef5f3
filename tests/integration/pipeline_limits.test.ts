/**
 * Limits enforced while an upload streams in: the largest file
 * (`maxFileBytes`), the per-user quota (also under concurrent uploads), a
 * body without a Content-Length (411), and a client that goes away mid-body.
 * Every refusal leaves no staged file, no record and no reserved quota behind.
 */
import assert from "node:assert/strict";
import { postSized } from "../../cli/sized_upload.ts";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import {
  eventually,
  getJson,
  KIB,
  markedPlaintext,
  stagedIds,
  upload,
  type UploadMethod,
} from "./_pipeline.ts";

const METHODS: UploadMethod[] = ["multipart", "raw"];

async function assertNothingKept(server: TestServer, user: TestUser, usedBytes = 0) {
  assert.deepEqual((await getJson(server, user, "/api/files")).body.files, []);
  assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, usedBytes);
  await eventually("an empty staging folder", async () => (await stagedIds(server)).length === 0);
}

/** A body of `total` random bytes in 16 KiB pieces, sent without a Content-Length. */
function chunkedBody(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const piece = randomBytes(Math.min(16 * KIB, total - sent));
      sent += piece.length;
      controller.enqueue(piece);
    },
  });
}

Deno.test("POST /api/files answers 413 past maxFileBytes and stages nothing", async (t) => {
  const max = 64 * KIB;
  await using server = await startTestServer({ config: { maxFileBytes: max } });
  const user = await signUp(server);
  for (const method of METHODS) {
    await t.step(`${method}: one byte over the limit`, async () => {
      const answer = await upload(server, user, method, randomBytes(max + 1));
      assert.equal(answer.status, 413, JSON.stringify(answer.body));
      assert.equal(answer.body.title, "File too large");
      await assertNothingKept(server, user);
    });
  }
  await t.step(
    "raw: a declared Content-Length over the limit is refused before reading",
    async () => {
      const answer = await upload(server, user, "raw", randomBytes(max + 128 * KIB));
      assert.equal(answer.status, 413);
      await assertNothingKept(server, user);
    },
  );
  await t.step("multipart: a file over the limit among small ones keeps none of them", async () => {
    const form = new FormData();
    form.append("file", new Blob([randomBytes(10) as BlobPart]), "small.bin");
    form.append("file", new Blob([randomBytes(max + 1) as BlobPart]), "big.bin");
    const response = await fetch(`${server.url}/api/files`, {
      method: "POST",
      headers: user.headers,
      body: form,
    });
    assert.equal(response.status, 413);
    await response.body?.cancel();
    await assertNothingKept(server, user);
  });
  for (const method of METHODS) {
    await t.step(`${method}: exactly the limit is accepted`, async () => {
      const answer = await upload(server, user, method, randomBytes(max));
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      assert.equal(answer.body.size, max);
    });
  }
});

Deno.test("POST /api/files answers 413 when an upload would exceed the user's quota", async (t) => {
  const quota = 100 * KIB;
  await using server = await startTestServer({ config: { quotaBytes: quota } });
  for (const method of METHODS) {
    await t.step(method, async () => {
      const user = await signUp(server);
      assert.equal((await getJson(server, user, "/api/me")).body.quota_bytes, quota);
      const first = await upload(server, user, method, markedPlaintext(60 * KIB));
      assert.equal(first.status, 202);
      const staged = await stagedIds(server);

      const second = await upload(server, user, method, markedPlaintext(60 * KIB));
      assert.equal(second.status, 413, JSON.stringify(second.body));
      assert.equal(second.body.title, "Storage quota exceeded");
      assert.deepEqual(await stagedIds(server), staged, "the refused upload is not staged");
      assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, 60 * KIB);
      assert.equal((await getJson(server, user, "/api/files")).body.files.length, 1);

      // Deleting the queued file gives its bytes back.
      const deleted = await fetch(`${server.url}/api/files/${first.body.id}`, {
        method: "DELETE",
        headers: user.headers,
      });
      assert.equal(deleted.status, 204);
      await deleted.body?.cancel();
      assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, 0);
      assert.equal((await upload(server, user, method, markedPlaintext(60 * KIB))).status, 202);
    });
  }
});

Deno.test("POST /api/files accepts at most one of two concurrent uploads that together exceed the quota", async () => {
  const quota = 100 * KIB;
  await using server = await startTestServer({ config: { quotaBytes: quota } });
  for (let round = 0; round < 3; round++) {
    const user = await signUp(server);
    const answers = await Promise.all([
      upload(server, user, "raw", markedPlaintext(60 * KIB)),
      upload(server, user, "multipart", markedPlaintext(60 * KIB)),
    ]);
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [202, 413], JSON.stringify(answers.map((a) => a.body)));
    const accepted = answers.find((answer) => answer.status === 202)!.body;
    assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, 60 * KIB);
    const listed = (await getJson(server, user, "/api/files")).body.files;
    assert.deepEqual(listed.map((file: { id: string }) => file.id), [accepted.id]);
    await eventually("only the accepted file staged", async () => {
      const staged = await stagedIds(server);
      return staged.length === round + 1 && staged.includes(accepted.id);
    });
  }
});

Deno.test("POST /api/files and POST /upload refuse a body without Content-Length with 411", async (t) => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const boundary = "----coffer-chunked";
  const multipart = new TextEncoder().encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.bin"\r\n\r\n` +
      `hello\r\n--${boundary}--\r\n`,
  );
  const cases: [string, string, () => ReadableStream<Uint8Array>][] = [
    ["/api/files?name=chunked.bin", "application/octet-stream", () => chunkedBody(64 * KIB)],
    [
      "/api/files",
      `multipart/form-data; boundary=${boundary}`,
      () => ReadableStream.from([multipart]),
    ],
    [
      "/upload",
      `multipart/form-data; boundary=${boundary}`,
      () => ReadableStream.from([multipart]),
    ],
  ];
  for (const [path, contentType, body] of cases) {
    await t.step(`${path} (${contentType.split(";")[0]})`, async () => {
      // Deno's fetch sends a stream body chunked, without a Content-Length.
      const response = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { ...user.headers, "Content-Type": contentType },
        body: body(),
      });
      assert.equal(response.status, 411);
      assert.equal(response.headers.get("Content-Type"), "application/problem+json");
      const problem = await response.json();
      assert.equal(problem.title, "Content-Length required");
      assert.match(problem.detail, /Content-Length/);
      await assertNothingKept(server, user);
    });
  }
});

/**
 * A request body that sends `before` bytes (after `prefix`), then waits for
 * `stop` and errors — the client going away mid-body.
 */
function stalledBody(
  prefix: Uint8Array,
  before: number,
  stop: AbortSignal,
): ReadableStream<Uint8Array> {
  let sent = 0;
  let prefixSent = false;
  return new ReadableStream({
    async pull(controller) {
      if (!prefixSent) {
        prefixSent = true;
        if (prefix.length > 0) return controller.enqueue(prefix);
      }
      if (sent < before) {
        sent += 16 * KIB;
        return controller.enqueue(randomBytes(16 * KIB));
      }
      await new Promise((resolve) => stop.addEventListener("abort", resolve, { once: true }));
      controller.error(new Error("client went away"));
    },
  });
}

Deno.test("POST /api/files leaves no record and no staged file when the client aborts mid-body", async (t) => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  const boundary = "----coffer-test-boundary";
  const forms: [UploadMethod, string, Uint8Array][] = [
    ["raw", "application/octet-stream", new Uint8Array(0)],
    [
      "multipart",
      `multipart/form-data; boundary=${boundary}`,
      new TextEncoder().encode(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="gone.bin"\r\n` +
          "Content-Type: application/octet-stream\r\n\r\n",
      ),
    ],
  ];
  for (const [method, contentType, prefix] of forms) {
    await t.step(method, async () => {
      const abort = new AbortController();
      const query = method === "raw" ? "?name=gone.bin" : "";
      // A sized body (as uploads must be) that stalls after 256 KiB of its 1 MiB.
      const request = postSized(
        `${server.url}/api/files${query}`,
        new Headers({ ...user.headers, "Content-Type": contentType }),
        {
          stream: stalledBody(prefix, 256 * KIB, abort.signal),
          length: prefix.length + 1024 * KIB,
        },
        abort.signal,
      );
      await eventually("the body to reach staging", async () => {
        const staged = await server.services.staging.list();
        return staged.length === 1 && staged[0].size > 0;
      });
      abort.abort();
      await assert.rejects(request);
      await assertNothingKept(server, user);
    });
  }
  // The server still works for this user afterwards.
  assert.equal((await upload(server, user, "raw", markedPlaintext(10))).status, 202);
});

Deno.test("POST /api/files answers 413 over the quota while a sized body is still arriving", async (t) => {
  const quota = 128 * KIB;
  await using server = await startTestServer({ config: { quotaBytes: quota } });
  const boundary = "----coffer-quota";
  const cases: [UploadMethod, string, Uint8Array, number][] = [
    // The declared length is over the quota: refused before the body is read.
    ["raw", "application/octet-stream", new Uint8Array(0), 16 * KIB],
    // Multipart sizes are only known as the part arrives: refused mid-body.
    [
      "multipart",
      `multipart/form-data; boundary=${boundary}`,
      new TextEncoder().encode(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n`,
      ),
      quota + 64 * KIB,
    ],
  ];
  for (const [method, contentType, prefix, sentBeforeStall] of cases) {
    await t.step(method, async () => {
      const user = await signUp(server);
      const stall = new AbortController();
      try {
        const query = method === "raw" ? "?name=big.bin" : "";
        const answer = await postSized(
          `${server.url}/api/files${query}`,
          new Headers({ ...user.headers, "Content-Type": contentType }),
          {
            stream: stalledBody(prefix, sentBeforeStall, stall.signal),
            length: prefix.length + 4 * quota,
          },
          AbortSignal.timeout(20_000),
        );
        assert.equal(answer.status, 413);
        assert.equal((await answer.json()).title, "Storage quota exceeded");
      } finally {
        stall.abort();
      }
      await assertNothingKept(server, user);
    });
  }
});
