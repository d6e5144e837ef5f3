/** fileContext(), the key export JSON and HKDF-Expand. */

import { assert, assertEquals, assertThrows } from "./_assert.ts";
import {
  createKeyExport,
  decryptStream,
  fileContext,
  FORMAT_ID,
  parseKeyExport,
} from "../../../crypto/mod.ts";
import { hkdfExpandSha512, importPrk } from "../../../crypto/_hkdf.ts";
import { chunkNonce } from "../../../crypto/_params.ts";
import {
  bytesEqual,
  collect,
  encrypt,
  hex,
  randomBytes,
  streamOf,
  toHex,
  utf8,
} from "./_helpers.ts";

Deno.test("fileContext() encodes coffer/v1, owner id and file id with NUL separators", () => {
  assertEquals(toHex(fileContext("u1", "f1")), toHex(utf8("coffer/v1\0u1\0f1")));
  assertEquals(toHex(fileContext("ü", "文件")), toHex(utf8("coffer/v1\0ü\0文件")));
});

Deno.test("fileContext() rejects ids that would make the encoding ambiguous", () => {
  for (
    const [owner, file] of [["a\0b", "f"], ["u", "f\0"], ["", "f"], ["u", ""], ["\ud800", "f"]]
  ) {
    assertThrows(() => fileContext(owner, file), TypeError);
  }
  assertThrows(() => fileContext(1 as unknown as string, "f"), TypeError);
});

Deno.test("createKeyExport() and parseKeyExport() round-trip and decrypt the file", async () => {
  const key = randomBytes(32);
  const context = fileContext("owner", "file");
  const ciphertext = await encrypt(key, context, utf8("exported"));
  const json = JSON.stringify(createKeyExport(key, context));
  assertEquals(
    json,
    `{"format":"${FORMAT_ID}","hash":"SHA-512","key":"${toHex(key)}","context":"${
      toHex(context)
    }"}`,
  );
  const parsed = parseKeyExport(json);
  assert(bytesEqual(parsed.key, key) && bytesEqual(parsed.context, context));
  const plaintext = await collect(
    streamOf(ciphertext).pipeThrough(decryptStream(parsed.key, parsed.context)),
  );
  assertEquals(new TextDecoder().decode(plaintext), "exported");
  assertEquals(parseKeyExport(JSON.parse(json)).key, parsed.key);
  assertEquals(parseKeyExport({ ...JSON.parse(json), key: toHex(key).toUpperCase() }).key, key);
});

Deno.test("parseKeyExport() rejects malformed exports", () => {
  const good = createKeyExport(new Uint8Array(32), new Uint8Array([0, 1]));
  const bad: unknown[] = [
    "not json",
    "[]",
    null,
    42,
    { ...good, format: "c2sp.org/chunked-encryption@v1+AEAD_AES_128_GCM" },
    { ...good, hash: "SHA-256" },
    { ...good, key: "00".repeat(31) },
    { ...good, key: "zz".repeat(32) },
    { ...good, key: undefined },
    { ...good, context: "abc" },
    { ...good, context: 5 },
  ];
  for (const input of bad) assertThrows(() => parseKeyExport(input), TypeError);
  assertThrows(() => createKeyExport(new Uint8Array(31), new Uint8Array()), TypeError);
});

Deno.test("hkdfExpandSha512() matches WebCrypto HKDF once the PRK is extracted", async () => {
  const ikm = randomBytes(32);
  const salt = randomBytes(16);
  const info = utf8("coffer hkdf test");
  const hmac = await crypto.subtle.importKey(
    "raw",
    salt,
    { name: "HMAC", hash: "SHA-512" },
    false,
    ["sign"],
  );
  const prk = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, ikm)); // HKDF-Extract
  const hkdf = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  for (const length of [1, 32, 63, 64, 65, 76, 128, 200, 255 * 64]) {
    const expected = new Uint8Array(
      await crypto.subtle.deriveBits(
        { name: "HKDF", hash: "SHA-512", salt, info },
        hkdf,
        length * 8,
      ),
    );
    const actual = await hkdfExpandSha512(await importPrk(prk), info, length);
    assert(bytesEqual(actual, expected), `length ${length}`);
  }
  assertEquals((await hkdfExpandSha512(await importPrk(prk), info, 0)).length, 0);
});

Deno.test("chunkNonce() XORs the big-endian chunk counter into the base nonce", () => {
  const base = hex("e73f670906cb3124dea731e1");
  const expected = (counter: number) => {
    const value = BigInt("0x" + toHex(base)) ^ BigInt(counter);
    return value.toString(16).padStart(24, "0");
  };
  const scratch = new Uint8Array(12);
  for (const counter of [0, 1, 255, 256, 65_535, 2 ** 24, 2 ** 32 - 1, 2 ** 32, 2 ** 38 - 1]) {
    assertEquals(toHex(chunkNonce(base, counter)), expected(counter), `counter ${counter}`);
    assertEquals(toHex(chunkNonce(base, counter, scratch)), expected(counter));
  }
  assertEquals(toHex(base), "e73f670906cb3124dea731e1", "the base nonce is not modified");
});
