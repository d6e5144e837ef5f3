// This module is browser compatible.

/**
 * HKDF-Expand (RFC 5869, section 2.3) with HMAC-SHA-512, built from WebCrypto
 * HMAC because WebCrypto's HKDF always runs Extract first.
 *
 * ```
 * T(0) = empty
 * T(i) = HMAC-SHA-512(PRK, T(i-1) ‖ info ‖ i)   (i as one byte, 1..255)
 * OKM  = first L bytes of T(1) ‖ T(2) ‖ …
 * ```
 *
 * @module
 */

const HASH_SIZE = 64;

/**
 * Imports a pseudorandom key for {@linkcode hkdfExpandSha512}. The bytes are
 * copied synchronously, so the caller may overwrite them afterwards.
 */
export function importPrk(prk: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", prk, { name: "HMAC", hash: "SHA-512" }, false, ["sign"]);
}

/**
 * Expands `prk` into `length` bytes of output keying material.
 *
 * @throws {RangeError} if `length` is not an integer from 0 to 255·64.
 */
export async function hkdfExpandSha512(
  prk: CryptoKey,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_SIZE) {
    throw new RangeError(`Cannot expand to ${length} bytes: expected 0 to ${255 * HASH_SIZE}`);
  }
  const okm = new Uint8Array(length);
  const input = new Uint8Array(HASH_SIZE + info.length + 1);
  let previous = 0; // length of T(i-1) at the front of `input`
  for (let i = 1, offset = 0; offset < length; i++, offset += HASH_SIZE) {
    input.set(info, previous);
    input[previous + info.length] = i;
    const block = new Uint8Array(
      await crypto.subtle.sign("HMAC", prk, input.subarray(0, previous + info.length + 1)),
    );
    okm.set(block.subarray(0, Math.min(HASH_SIZE, length - offset)), offset);
    input.set(block, 0);
    previous = HASH_SIZE;
  }
  return okm;
}
