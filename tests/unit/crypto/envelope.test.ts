/**
 * Envelope keys: the key ring, data keys wrapped and bound to their owner and
 * file id (version 2; version 1 keys are still read), re-wrapping under the
 * active key, and sealed metadata.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import {
  DecryptionError,
  generateDataKey,
  KeyRing,
  openBytes,
  resealBytes,
  rewrapKey,
  sealBytes,
  sealedKeyId,
  UnknownKeyError,
  unwrapKey,
  WRAP_VERSION,
  wrapKey,
  WRAPPED_KEY_SIZE,
  WRAPPED_KEY_V1_SIZE,
  wrappedKeyVersion,
} from "../../../crypto/mod.ts";
import { bytesEqual, randomBytes, utf8 } from "./_helpers.ts";

const kekA = { kid: "2025-06", key: randomBytes(32) };
const kekB = { kid: "2024-01", key: randomBytes(32) };
const ring = await KeyRing.create([kekA, kekB]);

Deno.test("KeyRing.create() makes the first key active", () => {
  assertEquals(ring.activeKid, "2025-06");
  assertEquals(ring.kids, ["2025-06", "2024-01"]);
  assert(ring.has("2024-01") && !ring.has("nope"));
});

Deno.test("KeyRing.create() rejects empty rings, bad kids, duplicates and bad keys", async () => {
  const key = randomBytes(32);
  const bad: { kid: string; key: Uint8Array }[][] = [
    [],
    [{ kid: "", key }],
    [{ kid: "has space", key }],
    [{ kid: "nul\0", key }],
    [{ kid: "x".repeat(65), key }],
    [{ kid: "a", key }, { kid: "a", key }],
    [{ kid: "a", key: randomBytes(16) }],
  ];
  for (const keys of bad) await assertRejects(() => KeyRing.create(keys), TypeError);
});

const OWNER = "owner-1";

/** The version 1 wrap as docs/FORMAT.md section 8 states it (read only since version 2). */
async function wrapV1(keyRing: KeyRing, dek: Uint8Array, fileId: string) {
  const { kid, bytes } = await keyRing.encrypt(
    dek,
    utf8(`coffer/v1 dek\0${keyRing.activeKid}\0${fileId}`),
  );
  return { kid, wrapped: bytes };
}

Deno.test("wrapKey() and unwrapKey() round-trip a data key bound to its owner and file id", async () => {
  const dek = generateDataKey();
  const wrapped = await wrapKey(ring, dek, OWNER, "file-1");
  assertEquals(wrapped.kid, "2025-06");
  assertEquals(wrapped.wrapped.length, WRAPPED_KEY_SIZE);
  assert(bytesEqual(await unwrapKey(ring, wrapped, OWNER, "file-1"), dek));
  const again = await wrapKey(ring, dek, OWNER, "file-1");
  assert(!bytesEqual(again.wrapped, wrapped.wrapped), "a fresh nonce per wrap");
});

Deno.test("wrapKey() writes version 2: 0x02 ‖ nonce ‖ encrypted key ‖ tag under the documented AAD", async () => {
  const dek = generateDataKey();
  const { kid, wrapped } = await wrapKey(ring, dek, "u_123", "f_456");
  assertEquals([WRAP_VERSION, WRAPPED_KEY_SIZE, WRAPPED_KEY_V1_SIZE], [2, 61, 60]);
  assertEquals(wrapped[0], 0x02);
  assertEquals(wrappedKeyVersion(wrapped), 2);
  // FORMAT.md section 8: "coffer/v2 dek" ‖ 0x00 ‖ kid ‖ 0x00 ‖ ownerId ‖ 0x00 ‖ fileId
  const aad = utf8(`coffer/v2 dek\0${kid}\0u_123\0f_456`);
  assert(bytesEqual(await ring.decrypt(kid, wrapped.subarray(1), aad), dek));
});

Deno.test("unwrapKey() rejects a version 2 key under another owner", async () => {
  const wrapped = await wrapKey(ring, generateDataKey(), OWNER, "file-1");
  for (const owner of ["owner-2", "owner-1 ", "OWNER-1"]) {
    await assertRejects(() => unwrapKey(ring, wrapped, owner, "file-1"), DecryptionError);
  }
  // Ids with U+0000 are refused, so the 0x00 separators keep owner and file id apart.
  await assertRejects(() => wrapKey(ring, generateDataKey(), "a\0b", "c"), TypeError);
  await assertRejects(() => wrapKey(ring, generateDataKey(), "", "c"), TypeError);
});

Deno.test("unwrapKey() still reads version 1 keys, which bind only kid and file id", async () => {
  const dek = generateDataKey();
  const legacy = await wrapV1(ring, dek, "file-1");
  assertEquals(legacy.wrapped.length, WRAPPED_KEY_V1_SIZE);
  assertEquals(wrappedKeyVersion(legacy.wrapped), 1);
  assert(bytesEqual(await unwrapKey(ring, legacy, OWNER, "file-1"), dek));
  await assertRejects(() => unwrapKey(ring, legacy, OWNER, "file-2"), DecryptionError);
});

Deno.test("a key cannot be moved between the versions", async () => {
  const current = await wrapKey(ring, generateDataKey(), OWNER, "file-1");
  const cut = { kid: current.kid, wrapped: current.wrapped.subarray(1) };
  assertEquals(wrappedKeyVersion(cut.wrapped), 1);
  await assertRejects(() => unwrapKey(ring, cut, OWNER, "file-1"), DecryptionError);
  const legacy = await wrapV1(ring, generateDataKey(), "file-1");
  const prefixed = { kid: legacy.kid, wrapped: new Uint8Array([2, ...legacy.wrapped]) };
  assertEquals(wrappedKeyVersion(prefixed.wrapped), 2);
  await assertRejects(() => unwrapKey(ring, prefixed, OWNER, "file-1"), DecryptionError);
});

Deno.test("wrappedKeyVersion() rejects other lengths and version bytes", () => {
  for (const length of [0, 1, 59, 62]) {
    assertThrows(() => wrappedKeyVersion(new Uint8Array(length).fill(2)), DecryptionError);
  }
  for (const first of [0, 1, 3, 255]) {
    const bytes = new Uint8Array(61);
    bytes[0] = first;
    assertThrows(() => wrappedKeyVersion(bytes), DecryptionError);
  }
});

Deno.test("unwrapKey() rejects an unknown kid", async () => {
  const wrapped = await wrapKey(ring, generateDataKey(), OWNER, "file-1");
  const error = await assertRejects(
    () => unwrapKey(ring, { ...wrapped, kid: "retired" }, OWNER, "file-1"),
    UnknownKeyError,
  );
  assertEquals(error.kid, "retired");
  const onlyB = await KeyRing.create([kekB]);
  await assertRejects(() => unwrapKey(onlyB, wrapped, OWNER, "file-1"), UnknownKeyError);
});

Deno.test("unwrapKey() rejects a wrong file id, kid swap or tampered bytes", async () => {
  const wrapped = await wrapKey(ring, generateDataKey(), OWNER, "file-1");
  await assertRejects(() => unwrapKey(ring, wrapped, OWNER, "file-2"), DecryptionError);
  await assertRejects(
    () => unwrapKey(ring, { ...wrapped, kid: "2024-01" }, OWNER, "file-1"),
    DecryptionError,
  );
  for (const offset of [0, 1, 12, 13, 44, 45, 60]) {
    const tampered = wrapped.wrapped.slice();
    tampered[offset] ^= 1;
    await assertRejects(
      () => unwrapKey(ring, { kid: wrapped.kid, wrapped: tampered }, OWNER, "file-1"),
      DecryptionError,
    );
  }
  for (const length of [0, 28, 59, 62]) {
    const resized = new Uint8Array(length);
    resized.set(wrapped.wrapped.subarray(0, length));
    await assertRejects(
      () => unwrapKey(ring, { kid: wrapped.kid, wrapped: resized }, OWNER, "file-1"),
      DecryptionError,
    );
  }
});

Deno.test("rewrapKey() moves a data key to the active master key", async () => {
  const oldRing = await KeyRing.create([kekB]);
  const dek = generateDataKey();
  const wrapped = await wrapKey(oldRing, dek, OWNER, "file-9");
  assertEquals(wrapped.kid, "2024-01");
  const rewrapped = await rewrapKey(ring, wrapped, OWNER, "file-9");
  assertEquals(rewrapped.kid, "2025-06");
  const newOnly = await KeyRing.create([kekA]);
  assert(bytesEqual(await unwrapKey(newOnly, rewrapped, OWNER, "file-9"), dek));
  await assertRejects(() => rewrapKey(ring, wrapped, OWNER, "file-8"), DecryptionError);
});

Deno.test("rewrapKey() upgrades a version 1 key to version 2 bound to the owner", async () => {
  const dek = generateDataKey();
  const legacy = await wrapV1(ring, dek, "file-9");
  const upgraded = await rewrapKey(ring, legacy, OWNER, "file-9");
  assertEquals([upgraded.kid, wrappedKeyVersion(upgraded.wrapped)], ["2025-06", 2]);
  assert(bytesEqual(await unwrapKey(ring, upgraded, OWNER, "file-9"), dek));
  await assertRejects(() => unwrapKey(ring, upgraded, "owner-2", "file-9"), DecryptionError);
});

Deno.test("wrapKey() rejects data keys that are not 32 bytes and bad file ids", async () => {
  await assertRejects(() => wrapKey(ring, new Uint8Array(16), OWNER, "f"), TypeError);
  await assertRejects(() => wrapKey(ring, generateDataKey(), OWNER, ""), TypeError);
  await assertRejects(() => wrapKey(ring, generateDataKey(), OWNER, "a\0b"), TypeError);
});

Deno.test("sealBytes() and openBytes() round-trip under a label", async () => {
  const value = utf8(JSON.stringify({ name: "report.pdf", type: "application/pdf" }));
  const sealed = await sealBytes(ring, value, "file-meta:file-1");
  assertEquals(sealed[0], 1);
  assertEquals(sealedKeyId(sealed), "2025-06");
  assertEquals(sealed.length, 2 + 7 + 12 + value.length + 16);
  assert(bytesEqual(await openBytes(ring, sealed, "file-meta:file-1"), value));
  const empty = await sealBytes(ring, new Uint8Array(), "x");
  assertEquals((await openBytes(ring, empty, "x")).length, 0);
});

Deno.test("openBytes() rejects a wrong label, tampering or an unknown kid", async () => {
  const sealed = await sealBytes(ring, utf8("secret"), "user:u1");
  await assertRejects(() => openBytes(ring, sealed, "user:u2"), DecryptionError);
  await assertRejects(() => openBytes(ring, sealed, "file-meta:u1"), DecryptionError);
  for (let offset = 0; offset < sealed.length; offset++) {
    const tampered = sealed.slice();
    tampered[offset] ^= 4;
    const error = await openBytes(ring, tampered, "user:u1").then(() => undefined, (e) => e);
    assert(
      error instanceof DecryptionError || error instanceof UnknownKeyError,
      `byte ${offset}: ${error}`,
    );
  }
  for (const length of [0, 1, 2, 9, 9 + 27]) {
    await assertRejects(
      () => openBytes(ring, sealed.subarray(0, length), "user:u1"),
      DecryptionError,
    );
  }
  const onlyB = await KeyRing.create([kekB]);
  await assertRejects(() => openBytes(onlyB, sealed, "user:u1"), UnknownKeyError);
});

Deno.test("resealBytes() moves a sealed value to the active master key", async () => {
  const oldRing = await KeyRing.create([kekB]);
  const sealed = await sealBytes(oldRing, utf8("meta"), "file-meta:f");
  assertEquals(sealedKeyId(sealed), "2024-01");
  const resealed = await resealBytes(ring, sealed, "file-meta:f");
  assertEquals(sealedKeyId(resealed), "2025-06");
  assertEquals(
    await openBytes(await KeyRing.create([kekA]), resealed, "file-meta:f"),
    utf8("meta"),
  );
});
