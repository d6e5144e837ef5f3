// This module is browser compatible.

/**
 * Plaintext ↔ ciphertext length formulas of Cobblestone-256.
 *
 * ```
 * chunks(n)         = floor(n / 16384) + 1
 * ciphertextSize(n) = 56 + n + 16 · chunks(n)
 * ```
 *
 * A ciphertext length `c` is possible only when `c ≥ 72` and
 * `(c − 56) mod 16400 ≥ 16`; `56 + k·16400` is a truncated message.
 *
 * @module
 */

import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, HEADER_SIZE, MAX_CHUNKS, TAG_SIZE } from "./_params.ts";
import { DecryptionError } from "./errors.ts";

function assertLength(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`Cannot size ${what}: expected a non-negative safe integer, got ${n}`);
  }
}

/**
 * Returns the ciphertext length of an `n`-byte plaintext:
 * `56 + n + 16 · (floor(n / 16384) + 1)`.
 *
 * @param n Plaintext length in bytes.
 * @returns Ciphertext length in bytes.
 * @throws {RangeError} if `n` is not a non-negative safe integer or needs
 *   more than 2^38 chunks.
 * @example
 * ```ts
 * import { ciphertextSize } from "./sizes.ts";
 * ciphertextSize(0); // 72
 * ciphertextSize(16384); // 16472: a full chunk and an empty final chunk
 * ```
 */
export function ciphertextSize(n: number): number {
  assertLength(n, "plaintext");
  const chunks = Math.floor(n / CHUNK_SIZE) + 1;
  if (chunks > MAX_CHUNKS) {
    throw new RangeError(`Cannot size plaintext of ${n} bytes: more than 2^38 chunks`);
  }
  return HEADER_SIZE + n + TAG_SIZE * chunks;
}

/**
 * Returns the plaintext length of an `n`-byte ciphertext, the inverse of
 * {@linkcode ciphertextSize}. The result is implied by the length alone; it is
 * authenticated only once the final chunk decrypts.
 *
 * @param n Ciphertext length in bytes.
 * @returns Plaintext length in bytes.
 * @throws {RangeError} if `n` is not a non-negative safe integer.
 * @throws {DecryptionError} if no message has that ciphertext length: shorter
 *   than 72 bytes, a final chunk shorter than its 16-byte tag, or ending on a
 *   chunk boundary (`56 + k·16400`, truncated), or more than 2^38 chunks.
 * @example
 * ```ts
 * import { plaintextSize } from "./sizes.ts";
 * plaintextSize(72); // 0
 * plaintextSize(16472); // 16384
 * ```
 */
export function plaintextSize(n: number): number {
  assertLength(n, "ciphertext");
  if (n < HEADER_SIZE + TAG_SIZE) {
    throw new DecryptionError(`Cannot decrypt ${n} bytes: shorter than header and one tag`);
  }
  const body = n - HEADER_SIZE;
  const fullChunks = Math.floor(body / ENCRYPTED_CHUNK_SIZE);
  const finalChunk = body % ENCRYPTED_CHUNK_SIZE;
  if (finalChunk < TAG_SIZE) {
    throw new DecryptionError(
      `Cannot decrypt ${n} bytes: truncated (final chunk of ${finalChunk} bytes)`,
    );
  }
  if (fullChunks + 1 > MAX_CHUNKS) {
    throw new DecryptionError(`Cannot decrypt ${n} bytes: more than 2^38 chunks`);
  }
  return fullChunks * CHUNK_SIZE + finalChunk - TAG_SIZE;
}
