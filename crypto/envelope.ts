// This module is browser compatible.

/**
 * Envelope encryption of per-file data keys (DEKs) under the master keys.
 *
 * ```
 * wrapped = nonce (12) ‖ AES-256-GCM(KEK[kid], nonce, DEK (32), aad) (32) ‖ tag (16)   = 60 bytes
 * aad     = "coffer/v1 dek" ‖ 0x00 ‖ kid ‖ 0x00 ‖ UTF-8(fileId)
 * ```
 *
 * The kid is stored beside `wrapped`; binding it and the file id into the
 * AAD means a wrapped key copied to another record, or relabelled with
 * another kid, fails to unwrap.
 *
 * @module
 */

import { assertBytes, concat, encodeIdentifier, utf8 } from "./_bytes.ts";
import { KEY_SIZE, NONCE_SIZE, TAG_SIZE } from "./_params.ts";
import { DecryptionError, UnknownKeyError } from "./errors.ts";
import type { KeyRing } from "./key_ring.ts";

/** A data key wrapped under a master key. */
export interface WrappedKey {
  /** Id of the master key that wrapped it. */
  kid: string;
  /** `nonce (12) ‖ encrypted DEK (32) ‖ tag (16)`, 60 bytes. */
  wrapped: Uint8Array;
}

/** Length of {@linkcode WrappedKey.wrapped}. */
export const WRAPPED_KEY_SIZE = NONCE_SIZE + KEY_SIZE + TAG_SIZE;

function wrapAad(kid: string, fileId: string): Uint8Array {
  return concat(
    utf8("coffer/v1 dek"),
    new Uint8Array([0]),
    utf8(kid),
    new Uint8Array([0]),
    encodeIdentifier(fileId, "file id"),
  );
}

/**
 * Draws a fresh random 32-byte data key for one file.
 *
 * @returns 32 random bytes.
 * @example
 * ```ts
 * import { generateDataKey } from "./envelope.ts";
 * const dek = generateDataKey();
 * ```
 */
export function generateDataKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_SIZE));
}

/**
 * Wraps a file's data key under the ring's active master key.
 *
 * @param ring The key ring.
 * @param dek The 32-byte data key.
 * @param fileId The file id the key belongs to (bound into the AAD).
 * @returns The active kid and the 60-byte wrapped key.
 * @throws {TypeError} if the DEK is not 32 bytes or the file id is invalid.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { generateDataKey, wrapKey } from "./envelope.ts";
 * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
 * const { kid, wrapped } = await wrapKey(ring, generateDataKey(), "file-1");
 * ```
 */
export async function wrapKey(ring: KeyRing, dek: Uint8Array, fileId: string): Promise<WrappedKey> {
  assertBytes(dek, "data key");
  if (dek.length !== KEY_SIZE) {
    throw new TypeError(`Cannot wrap data key: expected ${KEY_SIZE} bytes, got ${dek.length}`);
  }
  const { kid, bytes } = await ring.encrypt(dek, wrapAad(ring.activeKid, fileId));
  return { kid, wrapped: bytes };
}

/**
 * Unwraps a file's data key.
 *
 * @param ring The key ring.
 * @param wrappedKey The kid and wrapped bytes from {@linkcode wrapKey}.
 * @param fileId The file id it was wrapped for.
 * @returns The 32-byte data key.
 * @throws {UnknownKeyError} if the ring does not hold the kid.
 * @throws {DecryptionError} if the bytes were modified, the length is wrong,
 *   or the file id (or kid) differs from the one it was wrapped for.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { generateDataKey, unwrapKey, wrapKey } from "./envelope.ts";
 * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
 * const wrapped = await wrapKey(ring, generateDataKey(), "file-1");
 * const dek = await unwrapKey(ring, wrapped, "file-1");
 * ```
 */
export async function unwrapKey(
  ring: KeyRing,
  wrappedKey: WrappedKey,
  fileId: string,
): Promise<Uint8Array> {
  const { kid, wrapped } = wrappedKey;
  if (!ring.has(kid)) throw new UnknownKeyError(kid);
  const aad = wrapAad(kid, fileId);
  assertBytes(wrapped, "wrapped key");
  if (wrapped.length !== WRAPPED_KEY_SIZE) {
    throw new DecryptionError(
      `Cannot unwrap data key: expected ${WRAPPED_KEY_SIZE} bytes, got ${wrapped.length}`,
    );
  }
  return await ring.decrypt(kid, wrapped, aad, "data key");
}

/**
 * Re-wraps a data key under the ring's active master key (key rotation). The
 * ciphertext of the file is untouched. Callers may skip keys whose
 * `kid === ring.activeKid`.
 *
 * @param ring The key ring.
 * @param wrappedKey The current kid and wrapped bytes.
 * @param fileId The file id it was wrapped for.
 * @returns The key wrapped under the active kid.
 * @throws {UnknownKeyError} if the ring does not hold the current kid.
 * @throws {DecryptionError} as {@linkcode unwrapKey}.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { generateDataKey, rewrapKey, wrapKey } from "./envelope.ts";
 * const old = await KeyRing.create([{ kid: "old", key: new Uint8Array(32) }]);
 * const wrapped = await wrapKey(old, generateDataKey(), "file-1");
 * const ring = await KeyRing.create([
 *   { kid: "new", key: new Uint8Array(32).fill(1) },
 *   { kid: "old", key: new Uint8Array(32) },
 * ]);
 * const rewrapped = await rewrapKey(ring, wrapped, "file-1"); // kid "new"
 * ```
 */
export async function rewrapKey(
  ring: KeyRing,
  wrappedKey: WrappedKey,
  fileId: string,
): Promise<WrappedKey> {
  const dek = await unwrapKey(ring, wrappedKey, fileId);
  try {
    return await wrapKey(ring, dek, fileId);
  } finally {
    dek.fill(0);
  }
}
