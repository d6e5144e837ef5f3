/**
 * Uploaded bytes never act as part of a page: every file response (owner
 * `/content` and `/ciphertext`, compatible `/download*`, GET, HEAD and Range)
 * carries `Cross-Origin-Resource-Policy: same-origin` and
 * `Content-Security-Policy: sandbox; default-src 'none'`; active types
 * (JavaScript, SVG, HTML, XHTML, XML, PDF…) come back as
 * application/octet-stream while passive ones keep their type; and a
 * fullwidth traversal name gives no path in the ASCII `filename=`.
 */
import assert from "node:assert/strict";
import { FILE_CSP } from "../../routes/file_headers.ts";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer } from "../test_server.ts";
import { request, uploadFile } from "./_files_fixture.ts";

/** Uploaded type → the Content-Type `/content` must answer with. */
const SERVED_TYPES: [string, string][] = [
  ["text/javascript", "application/octet-stream"],
  ["application/javascript", "application/octet-stream"],
  ["image/svg+xml", "application/octet-stream"],
  ["text/html", "application/octet-stream"],
  ["application/xhtml+xml", "application/octet-stream"],
  ["text/xml", "application/octet-stream"],
  ["application/xml", "application/octet-stream"],
  ["application/pdf", "application/octet-stream"],
  ["text/plain", "text/plain"],
  ["image/png", "image/png"],
];

function assertFileHeaders(response: Response, type: string, what: string) {
  const headers = response.headers;
  assert.equal(headers.get("Content-Type"), type, `${what}: Content-Type`);
  assert.equal(headers.get("Cross-Origin-Resource-Policy"), "same-origin", `${what}: CORP`);
  assert.equal(headers.get("Content-Security-Policy"), FILE_CSP, `${what}: CSP`);
  assert.equal(headers.get("X-Content-Type-Options"), "nosniff", `${what}: nosniff`);
  assert.match(headers.get("Content-Disposition") ?? "", /^attachment; /, `${what}: disposition`);
}

Deno.test("file responses serve active types as octet-stream, with CORP and a sandbox CSP", async (t) => {
  // Every type uploaded at once: more than the default per-user limit of 8.
  await using server = await startTestServer({
    worker: true,
    config: { maxConcurrentUploads: SERVED_TYPES.length },
  });
  const user = await signUp(server);
  const bytes = randomBytes(20_000); // two chunks, so a range covers part of the file
  const records = await Promise.all(
    SERVED_TYPES.map(([type], i) => uploadFile(server, user, bytes, { name: `f${i}`, type })),
  );

  for (const [i, [uploaded, served]] of SERVED_TYPES.entries()) {
    const record = records[i];
    assert.equal(record.content_type, uploaded, "the record keeps the uploaded type");
    await t.step(`a ${uploaded} upload is served as ${served} on every file route`, async () => {
      const routes: [string, RequestInit, string][] = [
        [`/api/files/${record.id}/content`, {}, served],
        [`/api/files/${record.id}/content`, { method: "HEAD" }, served],
        [`/api/files/${record.id}/content`, { headers: { Range: "bytes=0-9" } }, served],
        [`/api/files/${record.id}/ciphertext`, {}, "application/octet-stream"],
        [`/api/files/${record.id}/ciphertext`, { method: "HEAD" }, "application/octet-stream"],
        [
          `/api/files/${record.id}/ciphertext`,
          { headers: { Range: "bytes=0-9" } },
          "application/octet-stream",
        ],
        [`/download_decrypted/${record.name}`, {}, served],
        [`/download/${record.name}`, {}, "application/octet-stream"],
      ];
      for (const [path, init, type] of routes) {
        const response = await request(server, user, path, init);
        await response.body?.cancel();
        const what = `${init.method ?? "GET"} ${path} ${JSON.stringify(init.headers ?? {})}`;
        assert.ok(
          response.status === 200 || response.status === 206,
          `${what}: ${response.status}`,
        );
        assertFileHeaders(response, type, what);
      }
    });
  }

  await t.step("a fullwidth traversal name gives no path in the ASCII filename=", async () => {
    const name = "．．／．．／．ｂａｓｈｒｃ";
    const record = await uploadFile(server, user, bytes, { name, type: "text/plain" });
    assert.equal(record.name, name);
    const response = await request(server, user, `/api/files/${record.id}/content`);
    await response.body?.cancel();
    const disposition = response.headers.get("Content-Disposition") ?? "";
    const ascii = /^attachment; filename="([^"]*)"; filename\*=UTF-8''(\S+)$/.exec(disposition);
    assert.ok(ascii, disposition);
    assert.doesNotMatch(ascii[1], /[/\\]|^\./, disposition);
    assert.equal(decodeURIComponent(ascii[2]), name);
  });
});
