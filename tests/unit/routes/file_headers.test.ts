/**
 * The headers of every file response: a passive allowlist decides the served
 * Content-Type (anything else is application/octet-stream), and CORP, the
 * sandbox CSP, nosniff and an attachment disposition are always there.
 */
import assert from "node:assert/strict";
import { FILE_CSP, fileHeaders, servedContentType } from "../../../routes/file_headers.ts";

const SERVED: [string, string][] = [
  ["text/plain", "text/plain"],
  ["text/csv", "text/csv"],
  ["image/png", "image/png"],
  ["image/jpeg", "image/jpeg"],
  ["video/mp4", "video/mp4"],
  ["audio/mpeg", "audio/mpeg"],
  ["application/json", "application/json"],
  ["application/zip", "application/zip"],
  ["application/octet-stream", "application/octet-stream"],
  // Active or unreviewed: never served as such.
  ["text/html", "application/octet-stream"],
  ["application/xhtml+xml", "application/octet-stream"],
  ["image/svg+xml", "application/octet-stream"],
  ["text/xml", "application/octet-stream"],
  ["application/xml", "application/octet-stream"],
  ["text/xsl", "application/octet-stream"],
  ["application/rss+xml", "application/octet-stream"],
  ["application/mathml+xml", "application/octet-stream"],
  ["text/javascript", "application/octet-stream"],
  ["application/javascript", "application/octet-stream"],
  ["application/ecmascript", "application/octet-stream"],
  ["application/x-javascript", "application/octet-stream"],
  ["text/jscript", "application/octet-stream"],
  ["text/vbscript", "application/octet-stream"],
  ["application/wasm", "application/octet-stream"],
  ["application/pdf", "application/octet-stream"],
  ["application/x-shockwave-flash", "application/octet-stream"],
  ["multipart/x-mixed-replace", "application/octet-stream"],
  ["text/cache-manifest", "application/octet-stream"],
  ["message/rfc822", "application/octet-stream"],
  ["application/vnd.example+whatever", "application/octet-stream"],
];

for (const [recorded, served] of SERVED) {
  Deno.test(`servedContentType() serves ${recorded} as ${served}`, () => {
    assert.equal(servedContentType(recorded), served);
  });
}

Deno.test("fileHeaders() sets CORP, the sandbox CSP, nosniff and an attachment", () => {
  const headers = fileHeaders("page.html", "text/html");
  assert.equal(headers.get("Content-Type"), "application/octet-stream");
  assert.equal(headers.get("Cross-Origin-Resource-Policy"), "same-origin");
  assert.equal(headers.get("Content-Security-Policy"), "sandbox; default-src 'none'");
  assert.equal(FILE_CSP, "sandbox; default-src 'none'");
  assert.equal(headers.get("X-Content-Type-Options"), "nosniff");
  assert.equal(headers.get("Cache-Control"), "no-store");
  assert.match(headers.get("Content-Disposition") ?? "", /^attachment; filename="page.html"; /);
});
