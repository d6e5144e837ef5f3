// This module is browser compatible.

/**
 * Cobblestone-256 parameters: c2sp.org/chunked-encryption instantiated with
 * AEAD_AES_256_GCM and HKDF-Expand-SHA-512.
 *
 * Ciphertext layout (all offsets in bytes):
 *
 * ```
 * salt (24) ‖ commitment (32) ‖ chunk 0 ‖ chunk 1 ‖ … ‖ final chunk
 * chunk k = AES-256-GCM(aeadKey, baseNonce XOR be96(k), plaintext_k) = body ‖ tag (16)
 * chunk k starts at 56 + k·16400; every chunk but the last is 16400 bytes,
 * the last is 16..16399 bytes (plaintext 0..16383 bytes)
 * ```
 *
 * @module
 */

/** The AEAD name from the IANA registry, as used in the HKDF info string. */
export const AEAD_NAME = "AEAD_AES_256_GCM";
/** The format identifier: HKDF info prefix and the `format` of the key export. */
export const FORMAT_ID = "c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM";
/** The HKDF-Expand hash. */
export const HASH_NAME = "SHA-512";
/** Input key (and AEAD key) size. */
export const KEY_SIZE = 32;
/** AES-GCM nonce size. */
export const NONCE_SIZE = 12;
/** AES-GCM tag size. */
export const TAG_SIZE = 16;
/** Random salt at the start of the ciphertext. */
export const SALT_SIZE = 24;
/** Key commitment after the salt. */
export const COMMITMENT_SIZE = 32;
/** salt ‖ commitment. */
export const HEADER_SIZE = SALT_SIZE + COMMITMENT_SIZE;
/** Plaintext bytes in every chunk but the last. */
export const CHUNK_SIZE = 16384;
/** Ciphertext bytes of a full chunk: body ‖ tag. */
export const ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
/** The chunk counter must stay below this (2^38 chunks, 4 PiB). */
export const MAX_CHUNKS = 2 ** 38;
/** Length of HKDF-Expand output: aeadKey (32) ‖ baseNonce (12) ‖ commitment (32). */
export const DERIVED_SIZE = KEY_SIZE + NONCE_SIZE + COMMITMENT_SIZE;
/** Chunks kept in flight by default (WebCrypto runs them concurrently). */
export const DEFAULT_CONCURRENCY = 16;
/**
 * Most chunks in one engine call (1 MiB): big enough that per-call costs
 * vanish, small enough that a synchronous engine keeps the event loop
 * responsive.
 */
export const BATCH_CHUNKS = 64;

/**
 * Writes the nonce of chunk `counter`, `baseNonce XOR be96(counter)`, into
 * `out` (12 bytes) and returns it. The counter is below 2^38, so only the
 * last five bytes differ from the base nonce.
 *
 * WebCrypto copies the `iv` of an algorithm when the call is made (WebCrypto
 * "normalize an algorithm" takes a copy of every BufferSource member), so one
 * `out` buffer can serve every call.
 */
export function chunkNonce(
  baseNonce: Uint8Array,
  counter: number,
  out: Uint8Array<ArrayBuffer> = new Uint8Array(NONCE_SIZE),
): Uint8Array<ArrayBuffer> {
  const high = Math.floor(counter / 0x1_0000_0000);
  const low = counter >>> 0;
  for (let i = 0; i < 7; i++) out[i] = baseNonce[i];
  out[7] = baseNonce[7] ^ high;
  out[8] = baseNonce[8] ^ (low >>> 24);
  out[9] = baseNonce[9] ^ (low >>> 16);
  out[10] = baseNonce[10] ^ (low >>> 8);
  out[11] = baseNonce[11] ^ low;
  return out;
}

/** Validates a `concurrency` option, returning the default when it is absent. */
export function checkConcurrency(concurrency: number | undefined): number {
  if (concurrency === undefined) return DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new RangeError(
      `Cannot use concurrency ${concurrency}: expected an integer from 1 to 256`,
    );
  }
  return concurrency;
}
