/**
 * Envelope keys: the key ring, data keys wrapped and bound to their file id,
 * re-wrapping under the active key, and sealed metadata.
 */
import { assert, assertEquals, assertRejects } from "./_assert.ts";
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
  wrapKey,
  WRAPPED_KEY_SIZE,
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

Deno.test("wrapKey() and unwrapKey() round-trip a data key bound to its file id", async () => {
  const dek = generateDataKey();
  const wrapped = await wrapKey(ring, dek, "file-1");
  assertEquals(wrapped.kid, "2025-06");
  assertEquals(wrapped.wrapped.length, WRAPPED_KEY_SIZE);
  assert(bytesEqual(await unwrapKey(ring, wrapped, "file-1"), dek));
  const again = await wrapKey(ring, dek, "file-1");
  assert(!bytesEqual(again.wrapped, wrapped.wrapped), "a fresh nonce per wrap");
});

Deno.test("unwrapKey() rejects an unknown kid", async () => {
  const wrapped = await wrapKey(ring, generateDataKey(), "file-1");
  const error = await assertRejects(
    () => unwrapKey(ring, { ...wrapped, kid: "retired" }, "file-1"),
    UnknownKeyError,
  );
  assertEquals(error.kid, "retired");
  const onlyB = await KeyRing.create([kekB]);
  await assertRejects(() => unwrapKey(onlyB, wrapped, "file-1"), UnknownKeyError);
});

Deno.test("unwrapKey() rejects a wrong file id, kid swap or tampered bytes", async () => {
  const wrapped = await wrapKey(ring, generateDataKey(), "file-1");
  await assertRejects(() => unwrapKey(ring, wrapped, "file-2"), DecryptionError);
  await assertRejects(
    () => unwrapKey(ring, { ...wrapped, kid: "2024-01" }, "file-1"),
    DecryptionError,
  );
  for (const offset of [0, 11, 12, 43, 44, 59]) {
    const tampered = wrapped.wrapped.slice();
    tampered[offset] ^= 1;
    await assertRejects(
      () => unwrapKey(ring, { kid: wrapped.kid, wrapped: tampered }, "file-1"),
      DecryptionError,
    );
  }
  for (const length of [0, 28, 59, 61]) {
    const resized = new Uint8Array(length);
    resized.set(wrapped.wrapped.subarray(0, length));
    await assertRejects(
      () => unwrapKey(ring, { kid: wrapped.kid, wrapped: resized }, "file-1"),
      DecryptionError,
    );
  }
});

Deno.test("rewrapKey() moves a data key to the active master key", async () => {
  const oldRing = await KeyRing.create([kekB]);
  const dek = generateDataKey();
  const wrapped = await wrapKey(oldRing, dek, "file-9");
  assertEquals(wrapped.kid, "2024-01");
  const rewrapped = await rewrapKey(ring, wrapped, "file-9");
  assertEquals(rewrapped.kid, "2025-06");
  const newOnly = await KeyRing.create([kekA]);
  assert(bytesEqual(await unwrapKey(newOnly, rewrapped, "file-9"), dek));
  await assertRejects(() => rewrapKey(ring, wrapped, "file-8"), DecryptionError);
});

Deno.test("wrapKey() rejects data keys that are not 32 bytes and bad file ids", async () => {
  await assertRejects(() => wrapKey(ring, new Uint8Array(16), "f"), TypeError);
  await assertRejects(() => wrapKey(ring, generateDataKey(), ""), TypeError);
  await assertRejects(() => wrapKey(ring, generateDataKey(), "a\0b"), TypeError);
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
