/**
 * The original design's endpoints round-trip a file by name: `POST /upload`
 * (multipart) → `GET /list_files` → `GET /download/:filename` (ciphertext) and
 * `GET /download_decrypted/:filename` (plaintext), the newest stored file of a
 * name winning, with the legacy `x-access-tokens` header — on both stores.
 */
import assert from "node:assert/strict";
import type { PublicFileRecord } from "../../storage/file_store.ts";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, waitForFile } from "../test_server.ts";
import type { TestUser } from "../test_server.ts";
import {
  assertSameBytes,
  bodyBytes,
  getJson,
  request,
  storedCiphertext,
  STORES,
} from "./_files_fixture.ts";

const NAME = "Quarterly report – ü.txt";
const PASSWORD = "correct horse battery staple"; // what signUp() registers with

/** `POST /upload` with multipart field `file`, then waits until stored. */
async function compatUpload(
  server: TestServer,
  user: TestUser,
  bytes: Uint8Array,
  name: string,
): Promise<PublicFileRecord> {
  const form = new FormData();
  form.append("file", new File([bytes as Uint8Array<ArrayBuffer>], name, { type: "text/plain" }));
  const response = await request(server, user, "/upload", { method: "POST", body: form });
  const record = await response.json();
  assert.equal(response.status, 202, JSON.stringify(record));
  assert.equal(record.name, name);
  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  return record;
}

for (const store of STORES) {
  Deno.test(`compatible endpoints round-trip a file by name (${store.name})`, async (t) => {
    await using server = await startTestServer(store.options);
    const [alice, bob] = await Promise.all([signUp(server), signUp(server)]);
    const path = encodeURIComponent(NAME);
    const older = randomBytes(40_000);
    const first = await compatUpload(server, alice, older, NAME);

    await t.step("GET /list_files lists the uploaded file", async () => {
      const { files } = await getJson<{ files: PublicFileRecord[] }>(server, alice, "/list_files");
      assert.deepEqual(files.map((file) => [file.id, file.name, file.status]), [
        [first.id, NAME, "stored"],
      ]);
    });

    await t.step("GET /download/:filename returns the stored ciphertext", async () => {
      const response = await request(server, alice, `/download/${path}`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("Content-Type"), "application/octet-stream");
      assert.match(response.headers.get("Content-Disposition") ?? "", /^attachment; /);
      const stored = await storedCiphertext(server, alice.id, first.id);
      assertSameBytes(await bodyBytes(response), stored, "ciphertext");
    });

    await t.step("GET /download_decrypted/:filename returns the plaintext", async () => {
      const response = await request(server, alice, `/download_decrypted/${path}`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("Content-Type"), "text/plain");
      assertSameBytes(await bodyBytes(response), older, "plaintext");
    });

    await t.step(
      "GET /download_decrypted/:filename serves the newest file of that name",
      async () => {
        const newer = randomBytes(1234);
        const second = await compatUpload(server, alice, newer, NAME);
        const plaintext = await request(server, alice, `/download_decrypted/${path}`);
        assertSameBytes(await bodyBytes(plaintext), newer, "newest plaintext");
        const ciphertext = await request(server, alice, `/download/${path}`);
        const stored = await storedCiphertext(server, alice.id, second.id);
        assertSameBytes(await bodyBytes(ciphertext), stored, "newest ciphertext");
      },
    );

    await t.step("the legacy x-access-tokens header from /generate_token works", async () => {
      const issued = await fetch(`${server.url}/generate_token`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: alice.username, password: PASSWORD }),
      });
      assert.equal(issued.status, 200);
      const headers = { "x-access-tokens": (await issued.json()).access_token };
      const listed = await fetch(`${server.url}/list_files`, { headers });
      assert.equal(listed.status, 200);
      assert.equal((await listed.json()).files.length, 2);
      const download = await fetch(`${server.url}/download_decrypted/${path}`, { headers });
      assert.equal(download.status, 200);
      assert.equal((await bodyBytes(download)).length, 1234);
      const bad = await fetch(`${server.url}/list_files`, { headers: { "x-access-tokens": "x" } });
      assert.equal(bad.status, 401);
      await bad.body?.cancel();
    });

    await t.step("GET /download/:filename answers 404 for a name the caller has not", async () => {
      for (const url of [`/download/${path}`, `/download_decrypted/${path}`]) {
        const theirs = await request(server, bob, url);
        assert.equal(theirs.status, 404);
        await theirs.body?.cancel();
      }
      const unknown = await request(server, alice, "/download_decrypted/no-such-file.txt");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.headers.get("Content-Type"), "application/problem+json");
      await unknown.body?.cancel();
      const anonymous = await fetch(`${server.url}/download/${path}`);
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
    });
  });
}
