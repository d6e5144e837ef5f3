/**
 * The upload pipeline end to end, on both object stores: a body sent by
 * multipart or raw streams into staging, the worker encrypts it into the
 * store, and the record ends `stored` with the exact Cobblestone ciphertext
 * size, no plaintext in the object, the right SHA-256, a decryptable
 * download and an empty staging folder. Also hostile display names, the
 * recorded content type of raw uploads, and the compatible `POST /upload`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ciphertextSize } from "../../crypto/mod.ts";
import { ciphertextKey } from "../../storage/object_keys.ts";
import { collect } from "../helpers.ts";
import {
  signUp,
  startTestServer,
  type TestServer,
  type TestUser,
  waitForFile,
} from "../test_server.ts";
import {
  contains,
  getJson,
  keysUnder,
  KIB,
  markedPlaintext,
  MARKER,
  MIB,
  stagedIds,
  storedCiphertext,
  upload,
  uploadAccepted,
  type UploadMethod,
} from "./_pipeline.ts";

const STORES = ["local", "s3"] as const;
const METHODS: UploadMethod[] = ["multipart", "raw"];

/** Uploads `size` marked bytes and checks everything the pipeline promises about them. */
async function assertStoredUpload(
  server: TestServer,
  user: TestUser,
  method: UploadMethod,
  size: number,
  path = "/api/files",
): Promise<void> {
  const plaintext = markedPlaintext(size);
  const answer = await upload(server, user, method, plaintext, `blob-${size}.bin`, path);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  const accepted = answer.body;
  assert.equal(accepted.status, "queued");
  assert.equal(accepted.size, size);
  assert.equal(accepted.name, `blob-${size}.bin`);
  assert.equal(accepted.wrapped_dek, undefined, "the record must not expose key material");

  const final = await waitForFile(server, user, accepted.id);
  assert.deepEqual(final, {
    status: "stored",
    progress: { bytes_done: size, bytes_total: size, percent: 100 },
  });
  const record = (await getJson(server, user, `/api/files/${accepted.id}`)).body;
  assert.equal(record.ciphertext_size, ciphertextSize(size));
  assert.equal(record.sha256, createHash("sha256").update(plaintext).digest("hex"));
  assert.ok(record.stored_at);

  const ciphertext = await storedCiphertext(server, user.id, accepted.id);
  assert.equal(ciphertext.length, ciphertextSize(size));
  if (size >= MARKER.length) {
    assert.ok(contains(plaintext, MARKER), "the plaintext carries the marker");
    assert.ok(!contains(ciphertext, MARKER), "the stored object contains plaintext");
  }
  const download = await fetch(`${server.url}/api/files/${accepted.id}/content`, {
    headers: user.headers,
  });
  assert.equal(download.status, 200);
  assert.ok(Buffer.from(await collect(download.body!)).equals(plaintext), "decrypts to the upload");
  assert.ok(!(await stagedIds(server)).includes(accepted.id), "staging must be removed");
}

for (const store of STORES) {
  Deno.test(`POST /api/files stores 0 B, 1 B and 16 KiB multipart and raw uploads as their Cobblestone ciphertext (${store} store)`, async (t) => {
    await using server = await startTestServer({ worker: true, s3: store === "s3" });
    const user = await signUp(server);
    for (const method of METHODS) {
      for (const size of [0, 1, 16 * KIB]) {
        await t.step(
          `${method}, ${size} bytes`,
          () => assertStoredUpload(server, user, method, size),
        );
      }
    }
    assert.deepEqual(await stagedIds(server), []);
    const me = (await getJson(server, user, "/api/me")).body;
    assert.equal(me.used_bytes, 2 * (0 + 1 + 16 * KIB));
  });
}

Deno.test("POST /api/files stores a 17 MiB raw upload as its Cobblestone ciphertext (local store)", async () => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  await assertStoredUpload(server, user, "raw", 17 * MIB);
  assert.deepEqual(await stagedIds(server), []);
});

Deno.test("POST /api/files stores a 17 MiB multipart upload as its Cobblestone ciphertext (s3 store)", async () => {
  await using server = await startTestServer({ worker: true, s3: true });
  const user = await signUp(server);
  await assertStoredUpload(server, user, "multipart", 17 * MIB);
  assert.deepEqual(await stagedIds(server), []);
});

Deno.test("POST /upload (compatible) stores a multipart upload like POST /api/files", async () => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  await assertStoredUpload(server, user, "multipart", 40 * KIB, "/upload");
});

/** Raw names and the display names they must become. */
const HOSTILE_NAMES: [string, string][] = [
  ["../../etc/passwd", "....etcpasswd"],
  ["..\\..\\boot.ini", "....boot.ini"],
  ["invoice\u202Efdp.exe", "invoicefdp.exe"],
  ["\u2066evil\u2069\u200F.png", "evil.png"],
  ["..", "unnamed"],
  ["Résumé 日本語 🎉.pdf", "Résumé 日本語 🎉.pdf"],
  ["a".repeat(1000), "a".repeat(255)],
  ["€".repeat(400), "€".repeat(85)],
  ["é".repeat(1000) + "/x", "é".repeat(127)],
];

/**
 * Names with C0 controls and NUL. A query parameter carries them (raw
 * uploads); a multipart part header cannot (HTTP forbids controls in header
 * values, so the parser refuses the body).
 */
const CONTROL_NAMES: [string, string][] = [
  ["a\u0000b\u0007c\r\nd\u001b[31m.txt", "abcd[31m.txt"],
  ["\u0000\u0001/", "unnamed"],
  ["tab\there\u007f\u0085.txt", "tabhere.txt"],
];

function assertDisplayName(name: string, expected: string): void {
  assert.equal(name, expected);
  assert.ok(new TextEncoder().encode(name).length <= 255);
  assert.ok(name.isWellFormed());
}

Deno.test("POST /api/files keeps hostile file names only as sanitized display names with opaque object keys", async (t) => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  const ids: string[] = [];
  const cases: [UploadMethod, string, string][] = [
    ...HOSTILE_NAMES.map(([raw, expected]) =>
      ["multipart", raw, expected] as [UploadMethod, string, string]
    ),
    ...[...HOSTILE_NAMES, ...CONTROL_NAMES].map(([raw, expected]) =>
      ["raw", raw, expected] as [UploadMethod, string, string]
    ),
  ];
  for (const [method, raw, expected] of cases) {
    await t.step(`${method}: ${JSON.stringify(raw.slice(0, 40))}`, async () => {
      const record = await uploadAccepted(server, user, method, markedPlaintext(100), raw);
      assertDisplayName(record.name, expected);
      ids.push(record.id);
    });
  }
  await t.step(
    "multipart: control characters in the part header are a 400, nothing staged",
    async () => {
      for (const [raw] of CONTROL_NAMES) {
        const answer = await upload(server, user, "multipart", markedPlaintext(100), raw);
        assert.equal(answer.status, 400, JSON.stringify(answer.body));
        assert.equal(answer.body.title, "Bad request");
      }
    },
  );
  for (const id of ids) assert.equal((await waitForFile(server, user, id)).status, "stored");
  const listed = (await getJson(server, user, "/api/files?limit=200")).body.files;
  assert.equal(listed.length, ids.length);
  const keys = await keysUnder(server.services.store, "files/");
  assert.deepEqual(keys.sort(), ids.map((id) => ciphertextKey(user.id, id)).sort());
  assert.deepEqual(await stagedIds(server), []);
});

Deno.test("POST /api/files records a raw upload's content type from ?type=, else its Content-Type", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const cases: [string, string, string][] = [
    ["?name=a.csv", "text/csv; charset=utf-8", "text/csv"],
    ["?name=b.pdf&type=application/pdf", "application/octet-stream", "application/pdf"],
    // curl --data-binary @FILE sends this when told nothing else: not the file's type.
    ["?name=c.bin", "application/x-www-form-urlencoded", "application/octet-stream"],
    ["?name=d.txt&type=text/plain", "application/x-www-form-urlencoded", "text/plain"],
    ["?name=e.bin", "not a type", "application/octet-stream"],
  ];
  for (const [query, header, expected] of cases) {
    const response = await fetch(`${server.url}/api/files${query}`, {
      method: "POST",
      headers: { ...user.headers, "Content-Type": header },
      body: "a,b\n1,2\n",
    });
    assert.equal(response.status, 202);
    assert.equal((await response.json()).content_type, expected, `${query} ${header}`);
  }
});
