/**
 * Downloads: the decrypted plaintext equals the upload (0 B, 1 B, 16 KiB,
 * 17 MiB) with the promised headers, HEAD answers without a body, the
 * ciphertext download equals the stored object byte for byte, and the
 * exported key decrypts it offline — on both object stores.
 */
import assert from "node:assert/strict";
import { decryptStream, parseKeyExport } from "../../crypto/mod.ts";
import type { PublicFileRecord } from "../../storage/file_store.ts";
import { collect, randomBytes, streamOf } from "../helpers.ts";
import { signUp, startTestServer } from "../test_server.ts";
import {
  assertSameBytes,
  bodyBytes,
  request,
  storedCiphertext,
  STORES,
  uploadFile,
} from "./_files_fixture.ts";

const KIB = 1024;
const MIB = 1024 * KIB;
const SIZES = [0, 1, 16 * KIB, 17 * MIB];
const UNICODE_NAME = "Résumé «final» 📄 (v2).pdf";

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The display name carried by `filename*=UTF-8''…` (RFC 5987). */
function extendedFileName(disposition: string | null): string | undefined {
  const match = /filename\*=UTF-8''([^;\s]+)/.exec(disposition ?? "");
  return match ? decodeURIComponent(match[1]) : undefined;
}

function assertDownloadHeaders(response: Response, name: string, type: string, length: number) {
  const headers = response.headers;
  assert.equal(headers.get("Content-Length"), String(length));
  assert.equal(headers.get("Content-Type"), type);
  assert.match(headers.get("Content-Disposition") ?? "", /^attachment; filename="[\x20-\x7e]*"; /);
  assert.equal(extendedFileName(headers.get("Content-Disposition")), name);
  assert.equal(headers.get("Accept-Ranges"), "bytes");
  assert.equal(headers.get("Cache-Control"), "no-store");
  assert.equal(headers.get("X-Content-Type-Options"), "nosniff");
}

for (const store of STORES) {
  Deno.test(`GET /api/files/:id/content returns the uploaded bytes (${store.name})`, async (t) => {
    await using server = await startTestServer(store.options);
    const user = await signUp(server);
    const files: { bytes: Uint8Array; record: PublicFileRecord }[] = [];
    for (const size of SIZES) {
      const bytes = randomBytes(size);
      files.push({
        bytes,
        record: await uploadFile(server, user, bytes, { name: `f${size}.bin` }),
      });
    }

    for (const { bytes, record } of files) {
      await t.step(`GET /api/files/:id/content returns all ${bytes.length} bytes`, async () => {
        const response = await request(server, user, `/api/files/${record.id}/content`);
        assert.equal(response.status, 200);
        assertSameBytes(await bodyBytes(response), bytes, "plaintext");
        assertDownloadHeaders(response, record.name, "application/octet-stream", bytes.length);
        const sha256 = await sha256Hex(bytes);
        assert.equal(record.sha256, sha256);
        assert.equal(response.headers.get("ETag"), `"${sha256}"`);
      });

      await t.step(
        `GET /api/files/:id/ciphertext returns the stored object (${bytes.length} B plaintext)`,
        async () => {
          const response = await request(server, user, `/api/files/${record.id}/ciphertext`);
          assert.equal(response.status, 200);
          const downloaded = await bodyBytes(response);
          const stored = await storedCiphertext(server, user.id, record.id);
          assertSameBytes(downloaded, stored, "ciphertext");
          assert.equal(stored.length, record.ciphertext_size);
          assertDownloadHeaders(
            response,
            `${record.name}.cbl`,
            "application/octet-stream",
            stored.length,
          );
        },
      );

      await t.step(
        `GET /api/files/:id/key decrypts the ciphertext offline (${bytes.length} B)`,
        async () => {
          const response = await request(server, user, `/api/files/${record.id}/key`);
          assert.equal(response.status, 200);
          assert.equal(response.headers.get("Cache-Control"), "no-store");
          const { key, context } = parseKeyExport(await response.text());
          const ciphertext = await storedCiphertext(server, user.id, record.id);
          const plaintext = await collect(
            streamOf(ciphertext, 100_000).pipeThrough(decryptStream(key, context)),
          );
          assertSameBytes(plaintext, bytes, "offline plaintext");
        },
      );
    }

    await t.step("GET /api/files/:id/content names a Unicode file in filename*", async () => {
      const bytes = randomBytes(100);
      const record = await uploadFile(server, user, bytes, {
        name: UNICODE_NAME,
        type: "application/pdf",
      });
      assert.equal(record.name, UNICODE_NAME);
      const response = await request(server, user, `/api/files/${record.id}/content`);
      assertSameBytes(await bodyBytes(response), bytes, "plaintext");
      // PDF carries scripts of its own: served as octet-stream (routes/file_headers.ts).
      assertDownloadHeaders(response, UNICODE_NAME, "application/octet-stream", 100);
      const again = await request(server, user, `/api/files/${record.id}/content`);
      await again.body?.cancel();
      assert.equal(again.headers.get("ETag"), response.headers.get("ETag"));
    });

    await t.step("HEAD /api/files/:id/content answers the headers without a body", async () => {
      const { bytes, record } = files[2];
      const response = await request(server, user, `/api/files/${record.id}/content`, {
        method: "HEAD",
      });
      assert.equal(response.status, 200);
      assertDownloadHeaders(response, record.name, "application/octet-stream", bytes.length);
      assert.equal((await bodyBytes(response)).length, 0);
      const ciphertext = await request(server, user, `/api/files/${record.id}/ciphertext`, {
        method: "HEAD",
      });
      assert.equal(ciphertext.status, 200);
      assert.equal(ciphertext.headers.get("Content-Length"), String(record.ciphertext_size));
      assert.equal((await bodyBytes(ciphertext)).length, 0);
    });
  });
}

Deno.test("GET /api/files/:id/content and /key answer key-unavailable when the file's master key is gone", async () => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  const record = await uploadFile(server, user, randomBytes(100));
  // As if the operator removed the wrapping key from COFFER_MASTER_KEYS.
  await server.services.files.update(record.id, { kid: "retired-key" });
  for (const path of ["content", "key", "ciphertext"]) {
    const response = await request(server, user, `/api/files/${record.id}/${path}`);
    if (path === "ciphertext") {
      // The stored bytes need no key.
      assert.equal(response.status, 200);
      await response.body?.cancel();
      continue;
    }
    assert.equal(response.status, 500, path);
    const problem = await response.json();
    assert.equal(problem.type, "https://coffer.invalid/problems/key-unavailable");
    assert.equal(problem.title, "The file's master key is not configured");
  }
  const missing = server.logs.map((line) => JSON.parse(line))
    .filter((line) => line.event === "master_key.missing");
  assert.equal(missing.length, 2);
  assert.equal(missing[0].kid, "retired-key");
  assert.match(missing[0].advice, /COFFER_MASTER_KEYS/);
});
