/**
 * The size formulas: ciphertextSize() and plaintextSize() at the boundaries,
 * and impossible lengths refused.
 */
import { assertEquals, assertThrows } from "./_assert.ts";
import { ciphertextSize, DecryptionError, plaintextSize } from "../../../crypto/mod.ts";
import { CHUNK, HEADER, SEALED_CHUNK } from "./_helpers.ts";

Deno.test("ciphertextSize() and plaintextSize() agree on the boundary sizes", () => {
  const table: [number, number][] = [
    [0, 72],
    [1, 73],
    [CHUNK - 1, 56 + 16383 + 16],
    [CHUNK, 56 + 16384 + 32],
    [CHUNK + 1, 56 + 16385 + 32],
    [2 * CHUNK - 1, 56 + 32767 + 32],
    [2 * CHUNK, 56 + 32768 + 48],
    [5 * 1024 * 1024, 56 + 5 * 1024 * 1024 + 16 * 321],
    [2 ** 32, 56 + 2 ** 32 + 16 * (2 ** 18 + 1)],
  ];
  for (const [plaintext, ciphertext] of table) {
    assertEquals(ciphertextSize(plaintext), ciphertext, `ciphertextSize(${plaintext})`);
    assertEquals(plaintextSize(ciphertext), plaintext, `plaintextSize(${ciphertext})`);
  }
  for (let n = 0; n < 4 * CHUNK; n += 997) assertEquals(plaintextSize(ciphertextSize(n)), n);
});

Deno.test("plaintextSize() rejects impossible ciphertext lengths", () => {
  const impossible = [0, 1, 55, 56, 57, 71];
  for (let k = 1; k <= 3; k++) {
    impossible.push(HEADER + k * SEALED_CHUNK); // truncated: ends on a chunk boundary
    for (let r = 1; r < 16; r += 7) impossible.push(HEADER + k * SEALED_CHUNK + r); // < one tag
  }
  for (const n of impossible) {
    assertThrows(() => plaintextSize(n), DecryptionError, `Cannot decrypt ${n} bytes`);
  }
  // More than 2^38 chunks.
  assertThrows(() => plaintextSize(HEADER + 2 ** 38 * SEALED_CHUNK + 16), DecryptionError);
});

Deno.test("ciphertextSize() and plaintextSize() reject lengths that are not sizes", () => {
  for (const n of [-1, 0.5, NaN, Infinity, 2 ** 53]) {
    assertThrows(() => ciphertextSize(n), RangeError);
    assertThrows(() => plaintextSize(n), RangeError);
  }
  assertThrows(() => ciphertextSize(2 ** 38 * CHUNK), RangeError, "2^38");
  assertEquals(ciphertextSize(2 ** 38 * CHUNK - 1), 56 + 2 ** 38 * CHUNK - 1 + 16 * 2 ** 38);
});
