/**
 * `/api/uploads` speaks tus 1.0.0: every status the protocol and Coffer's
 * rules give (201, 204, 400, 401, 404, 409, 410, 412, 413, 415, 460) and
 * the headers of each answer, driven with raw requests so that each header
 * is the one on the wire.
 */
import assert from "node:assert/strict";
import { collect, randomBytes } from "../helpers.ts";
import { signUp, startTestServer, waitForFile } from "../test_server.ts";
import { b64, createUpload, offsetOf, patch, tus } from "./_tus.ts";

const HELLO_SHA1 = "Kq5sNclPz7QV2+lfQIuc6R7oRu0="; // the tus spec's sha1 of "hello world"
const HELLO_SHA256 = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";
const hello = () => new TextEncoder().encode("hello world");

Deno.test("OPTIONS /api/uploads advertises version, extensions, max size and checksums", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const answer = await tus(server, user, "OPTIONS", "/api/uploads", { "Tus-Resumable": "" });
  assert.equal(answer.status, 204);
  assert.equal(answer.headers.get("Tus-Version"), "1.0.0");
  assert.equal(
    answer.headers.get("Tus-Extension"),
    "creation,creation-with-upload,expiration,checksum,termination",
  );
  assert.equal(answer.headers.get("Tus-Max-Size"), String(server.config.maxFileBytes));
  assert.equal(answer.headers.get("Tus-Checksum-Algorithm"), "sha1,sha256");
});

Deno.test("POST, HEAD and PATCH take a file through to a stored record with Coffer-File-Id", async () => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  const bytes = randomBytes(300_000);
  const created = await tus(server, user, "POST", "/api/uploads", {
    "Upload-Length": String(bytes.length),
    "Upload-Metadata": `filename ${b64("résumé.pdf")},filetype ${b64("application/pdf")}`,
  });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get("Tus-Resumable"), "1.0.0");
  const path = created.headers.get("Location")!;
  assert.match(path, /^\/api\/uploads\/[A-Za-z0-9_-]{22}$/);
  const expires = Date.parse(created.headers.get("Upload-Expires")!);
  assert.ok(Math.abs(expires - (Date.now() + 86_400_000)) < 60_000, "expires in 24 h");

  const head = await tus(server, user, "HEAD", path);
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("Upload-Offset"), "0");
  assert.equal(head.headers.get("Upload-Length"), String(bytes.length));
  assert.equal(head.headers.get("Cache-Control"), "no-store");
  assert.ok(head.headers.get("Upload-Expires"));
  assert.equal(
    head.headers.get("Upload-Metadata"),
    `filename ${b64("résumé.pdf")},filetype ${b64("application/pdf")}`,
  );
  assert.equal(head.headers.get("Tus-Resumable"), "1.0.0");

  const first = await patch(server, user, path, 0, bytes.subarray(0, 100_000));
  assert.equal(first.status, 204);
  assert.equal(first.headers.get("Upload-Offset"), "100000");
  assert.ok(first.headers.get("Upload-Expires"));
  assert.equal(first.headers.get("Coffer-File-Id"), null, "not complete yet");
  assert.equal(await offsetOf(server, user, path), 100_000);

  const last = await patch(server, user, path, 100_000, bytes.subarray(100_000));
  assert.equal(last.status, 204);
  assert.equal(last.headers.get("Upload-Offset"), String(bytes.length));
  const fileId = last.headers.get("Coffer-File-Id")!;
  assert.equal(fileId, path.split("/").pop(), "the upload becomes the file of the same id");
  assert.equal((await waitForFile(server, user, fileId)).status, "stored");
  const record = await (await fetch(`${server.url}/api/files/${fileId}`, { headers: user.headers }))
    .json();
  assert.equal(record.name, "résumé.pdf");
  assert.equal(record.content_type, "application/pdf");
  assert.equal(record.size, bytes.length);
  const content = await fetch(`${server.url}/api/files/${fileId}/content`, {
    headers: user.headers,
  });
  assert.deepEqual(await collect(content.body!), bytes);

  const again = await tus(server, user, "HEAD", path);
  assert.equal(again.headers.get("Coffer-File-Id"), fileId, "a HEAD after the end names the file");
});

Deno.test("PATCH at another offset than the server's is 409 with the server's offset", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const path = await createUpload(server, user, 100);
  assert.equal((await patch(server, user, path, 0, randomBytes(40))).status, 204);
  for (const offset of [0, 39, 41, 100]) {
    const answer = await patch(server, user, path, offset, randomBytes(10));
    assert.equal(answer.status, 409, `offset ${offset}`);
    assert.equal(answer.headers.get("Upload-Offset"), "40");
    assert.equal(answer.headers.get("Content-Type"), "application/problem+json");
  }
  assert.equal(await offsetOf(server, user, path), 40);
});

Deno.test("a request without Tus-Resumable: 1.0.0 is 412 with Tus-Version", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const path = await createUpload(server, user, 10);
  for (const version of ["", "0.2.2", "1.0"]) {
    const answer = await tus(server, user, "HEAD", path, { "Tus-Resumable": version });
    assert.equal(answer.status, 412, `version "${version}"`);
    assert.equal(answer.headers.get("Tus-Version"), "1.0.0");
    const created = await tus(server, user, "POST", "/api/uploads", {
      "Tus-Resumable": version,
      "Upload-Length": "5",
    });
    assert.equal(created.status, 412);
  }
});

Deno.test("PATCH with another Content-Type is 415 and writes nothing", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const path = await createUpload(server, user, 10);
  for (const type of ["application/octet-stream", "text/plain", ""]) {
    const answer = await patch(server, user, path, 0, randomBytes(5), { "Content-Type": type });
    assert.equal(answer.status, 415, `type "${type}"`);
  }
  assert.equal(await offsetOf(server, user, path), 0);
});

Deno.test("Upload-Checksum: sha1 and sha256 are verified; a mismatch is 460 and the chunk discarded", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const path = await createUpload(server, user, 33);
  const wrong = await patch(server, user, path, 0, hello(), {
    "Upload-Checksum": `sha1 ${HELLO_SHA256.slice(0, 28)}`,
  });
  assert.equal(wrong.status, 460);
  assert.equal(wrong.headers.get("Content-Type"), "application/problem+json");
  assert.equal(await offsetOf(server, user, path), 0, "the chunk is discarded");
  const staged = await server.services.staging.size(path.split("/").pop()!);
  assert.equal(staged, 0, "nothing of it stays in staging");

  const sha1 = await patch(server, user, path, 0, hello(), {
    "Upload-Checksum": `sha1 ${HELLO_SHA1}`,
  });
  assert.equal(sha1.status, 204);
  assert.equal(sha1.headers.get("Upload-Offset"), "11");
  const sha256 = await patch(server, user, path, 11, hello(), {
    "Upload-Checksum": `sha256 ${HELLO_SHA256}`,
  });
  assert.equal(sha256.status, 204);
  const unsupported = await patch(server, user, path, 22, hello(), {
    "Upload-Checksum": `md5 XrY7u+Ae7tCTyyK7j1rNww==`,
  });
  assert.equal(unsupported.status, 400);
  assert.equal(await offsetOf(server, user, path), 22);
});

Deno.test("another user's upload, an unknown one and a request without a token: 404, 404, 401", async () => {
  await using server = await startTestServer();
  const owner = await signUp(server);
  const other = await signUp(server);
  const path = await createUpload(server, owner, 10);
  for (const method of ["HEAD", "PATCH", "DELETE"]) {
    const headers: Record<string, string> = method === "PATCH"
      ? { "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" }
      : {};
    const body = method === "PATCH" ? "12345" : undefined;
    const foreign = await tus(server, other, method, path, headers, body);
    assert.equal(foreign.status, 404, `${method} of another user's upload`);
    const unknown = await tus(
      server,
      owner,
      method,
      "/api/uploads/AAAAAAAAAAAAAAAAAAAAAA",
      headers,
      body,
    );
    assert.equal(unknown.status, 404, `${method} of an unknown upload`);
    assert.equal((await tus(server, undefined, method, path, headers, body)).status, 401);
  }
  assert.equal(await offsetOf(server, owner, path), 0);
  assert.equal(
    (await tus(server, undefined, "POST", "/api/uploads", { "Upload-Length": "1" })).status,
    401,
  );
});

Deno.test("POST needs Upload-Length: missing, deferred or malformed is 400; past the largest file 413", async () => {
  await using server = await startTestServer({ config: { maxFileBytes: 1000 } });
  const user = await signUp(server);
  const cases: [Record<string, string>, number][] = [
    [{}, 400],
    [{ "Upload-Defer-Length": "1" }, 400],
    [{ "Upload-Length": "-1" }, 400],
    [{ "Upload-Length": "1e3" }, 400],
    [{ "Upload-Length": "10", "Upload-Metadata": "filename not*base64" }, 400],
    [
      { "Upload-Length": "10", "Upload-Metadata": `filename ${b64("a")},filename ${b64("b")}` },
      400,
    ],
    [{ "Upload-Length": "1001" }, 413],
    [{ "Upload-Length": "1000" }, 201],
  ];
  for (const [headers, status] of cases) {
    const answer = await tus(server, user, "POST", "/api/uploads", headers);
    assert.equal(answer.status, status, JSON.stringify(headers));
  }
});

Deno.test("a PATCH past Upload-Length is 413 and writes nothing", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const path = await createUpload(server, user, 10);
  assert.equal((await patch(server, user, path, 0, randomBytes(11))).status, 413);
  assert.equal(await offsetOf(server, user, path), 0);
});

Deno.test("creation-with-upload: a POST body is the first chunk (201 with Upload-Offset)", async () => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  const bytes = randomBytes(5000);
  const created = await tus(server, user, "POST", "/api/uploads", {
    "Upload-Length": "5000",
    "Content-Type": "application/offset+octet-stream",
  }, bytes.subarray(0, 3000) as BodyInit);
  assert.equal(created.status, 201);
  assert.equal(created.headers.get("Upload-Offset"), "3000");
  const path = created.headers.get("Location")!;
  const last = await patch(server, user, path, 3000, bytes.subarray(3000));
  assert.equal(last.status, 204);
  const id = last.headers.get("Coffer-File-Id")!;
  assert.equal((await waitForFile(server, user, id)).status, "stored");

  const whole = await tus(server, user, "POST", "/api/uploads", {
    "Upload-Length": "3",
    "Content-Type": "application/offset+octet-stream",
  }, "abc");
  assert.equal(whole.status, 201);
  assert.ok(whole.headers.get("Coffer-File-Id"), "a body that completes the upload makes the file");
  const wrongType = await tus(server, user, "POST", "/api/uploads", {
    "Upload-Length": "3",
    "Content-Type": "text/plain",
  }, "abc");
  assert.equal(wrongType.status, 415);
});

Deno.test("an empty upload is a file at once: 201 with Coffer-File-Id", async () => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  const created = await tus(server, user, "POST", "/api/uploads", { "Upload-Length": "0" });
  assert.equal(created.status, 201);
  const id = created.headers.get("Coffer-File-Id")!;
  assert.ok(id);
  assert.equal((await waitForFile(server, user, id)).status, "stored");
});

Deno.test("DELETE terminates: 204, staged bytes removed, then 404", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const path = await createUpload(server, user, 1000);
  assert.equal((await patch(server, user, path, 0, randomBytes(400))).status, 204);
  const id = path.split("/").pop()!;
  assert.equal(await server.services.staging.size(id), 400);
  const deleted = await tus(server, user, "DELETE", path);
  assert.equal(deleted.status, 204);
  assert.equal(deleted.headers.get("Tus-Resumable"), "1.0.0");
  await assert.rejects(server.services.staging.size(id), Deno.errors.NotFound);
  assert.equal((await tus(server, user, "HEAD", path)).status, 404);
  assert.equal((await patch(server, user, path, 400, randomBytes(10))).status, 404);
  assert.equal((await tus(server, user, "DELETE", path)).status, 404);
});

Deno.test("an upload with no progress for COFFER_UPLOAD_EXPIRY is 410 (progress moves the expiry)", async () => {
  await using server = await startTestServer({ config: { uploadExpirySeconds: 1 } });
  const user = await signUp(server);
  const path = await createUpload(server, user, 1000);
  assert.equal((await patch(server, user, path, 0, randomBytes(100))).status, 204);
  await new Promise((resolve) => setTimeout(resolve, 700));
  // Progress moves the expiry: 700 ms later it is still alive.
  assert.equal((await patch(server, user, path, 100, randomBytes(100))).status, 204);
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal(await offsetOf(server, user, path), 200, "still alive 1.4 s after creation");
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal((await tus(server, user, "HEAD", path)).status, 410);
  assert.equal((await patch(server, user, path, 200, randomBytes(10))).status, 410);
});
