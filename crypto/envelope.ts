// This module is browser compatible.

/**
 * Envelope encryption of per-file data keys (DEKs) under the master keys.
 *
 * ```
 * version 2 (written since issue 15; binds the owner):
 *   wrapped = 0x02 (1) ‖ nonce (12) ‖ AES-256-GCM(KEK[kid], nonce, DEK (32), aad) (32) ‖ tag (16)
 *                                                                                    = 61 bytes
 *   aad     = "coffer/v2 dek" ‖ 0x00 ‖ kid ‖ 0x00 ‖ UTF-8(ownerId) ‖ 0x00 ‖ UTF-8(fileId)
 *
 * version 1 (read only; `deno task keys:rotate` re-wraps it as version 2):
 *   wrapped = nonce (12) ‖ AES-256-GCM(KEK[kid], nonce, DEK (32), aad) (32) ‖ tag (16)
 *                                                                                    = 60 bytes
 *   aad     = "coffer/v1 dek" ‖ 0x00 ‖ kid ‖ 0x00 ‖ UTF-8(fileId)
 * ```
 *
 * The kid is stored beside `wrapped`; binding it, the owner and the file id
 * into the AAD means a wrapped key copied to another record, relabelled
 * with another owner, or relabelled with another kid, fails to unwrap. The
 * length tells the versions apart; the AADs differ in their first bytes, so
 * a version 2 key with its version byte cut off does not unwrap as version 1.
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
  /** Version 2: `0x02 ‖ nonce (12) ‖ encrypted DEK (32) ‖ tag (16)`, 61 bytes (version 1: 60). */
  wrapped: Uint8Array;
}

/** The wrap format {@linkcode wrapKey} writes. */
export const WRAP_VERSION = 2;

/** Length of a version 1 {@linkcode WrappedKey.wrapped} (no version byte). */
export const WRAPPED_KEY_V1_SIZE = NONCE_SIZE + KEY_SIZE + TAG_SIZE;

/** Length of {@linkcode WrappedKey.wrapped} as {@linkcode wrapKey} writes it (version 2). */
export const WRAPPED_KEY_SIZE = 1 + WRAPPED_KEY_V1_SIZE;

const SEPARATOR = new Uint8Array([0]);

function wrapAadV1(kid: string, fileId: string): Uint8Array {
  return concat(
    utf8("coffer/v1 dek"),
    SEPARATOR,
    utf8(kid),
    SEPARATOR,
    encodeIdentifier(fileId, "file id"),
  );
}

function wrapAad(kid: string, ownerId: string, fileId: string): Uint8Array {
  return concat(
    utf8("coffer/v2 dek"),
    SEPARATOR,
    utf8(kid),
    SEPARATOR,
    encodeIdentifier(ownerId, "owner id"),
    SEPARATOR,
    encodeIdentifier(fileId, "file id"),
  );
}

/**
 * Tells which format a wrapped key is in, from its length and first byte.
 *
 * @param wrapped The wrapped bytes.
 * @returns 2 for the current format, 1 for the old one (no owner bound).
 * @throws {DecryptionError} if the bytes are in neither format.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { generateDataKey, wrapKey, wrappedKeyVersion } from "./envelope.ts";
 * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
 * const { wrapped } = await wrapKey(ring, generateDataKey(), "owner-1", "file-1");
 * wrappedKeyVersion(wrapped); // 2
 * ```
 */
export function wrappedKeyVersion(wrapped: Uint8Array): 1 | 2 {
  assertBytes(wrapped, "wrapped key");
  if (wrapped.length === WRAPPED_KEY_V1_SIZE) return 1;
  if (wrapped.length === WRAPPED_KEY_SIZE && wrapped[0] === WRAP_VERSION) return 2;
  throw new DecryptionError(
    `Cannot unwrap data key: expected ${WRAPPED_KEY_SIZE} bytes starting with 0x02 ` +
      `(or ${WRAPPED_KEY_V1_SIZE}), got ${wrapped.length}`,
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
 * Wraps a file's data key under the ring's active master key (version 2).
 *
 * @param ring The key ring.
 * @param dek The 32-byte data key.
 * @param ownerId The id of the file's owner (bound into the AAD).
 * @param fileId The file id the key belongs to (bound into the AAD).
 * @returns The active kid and the 61-byte wrapped key.
 * @throws {TypeError} if the DEK is not 32 bytes or an id is invalid.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { generateDataKey, wrapKey } from "./envelope.ts";
 * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
 * const { kid, wrapped } = await wrapKey(ring, generateDataKey(), "owner-1", "file-1");
 * ```
 */
export async function wrapKey(
  ring: KeyRing,
  dek: Uint8Array,
  ownerId: string,
  fileId: string,
): Promise<WrappedKey> {
  assertBytes(dek, "data key");
  if (dek.length !== KEY_SIZE) {
    throw new TypeError(`Cannot wrap data key: expected ${KEY_SIZE} bytes, got ${dek.length}`);
  }
  const { kid, bytes } = await ring.encrypt(dek, wrapAad(ring.activeKid, ownerId, fileId));
  return { kid, wrapped: concat(new Uint8Array([WRAP_VERSION]), bytes) };
}

/**
 * Unwraps a file's data key, in either format.
 *
 * @param ring The key ring.
 * @param wrappedKey The kid and wrapped bytes from {@linkcode wrapKey}.
 * @param ownerId The owner it was wrapped for (not checked by version 1,
 *   which did not bind it).
 * @param fileId The file id it was wrapped for.
 * @returns The 32-byte data key.
 * @throws {UnknownKeyError} if the ring does not hold the kid.
 * @throws {DecryptionError} if the bytes were modified, the length is wrong,
 *   or the owner, file id or kid differs from the one it was wrapped for.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { generateDataKey, unwrapKey, wrapKey } from "./envelope.ts";
 * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
 * const wrapped = await wrapKey(ring, generateDataKey(), "owner-1", "file-1");
 * const dek = await unwrapKey(ring, wrapped, "owner-1", "file-1");
 * ```
 */
export async function unwrapKey(
  ring: KeyRing,
  wrappedKey: WrappedKey,
  ownerId: string,
  fileId: string,
): Promise<Uint8Array> {
  const { kid, wrapped } = wrappedKey;
  if (!ring.has(kid)) throw new UnknownKeyError(kid);
  if (wrappedKeyVersion(wrapped) === 1) {
    return await ring.decrypt(kid, wrapped, wrapAadV1(kid, fileId), "data key");
  }
  const aad = wrapAad(kid, ownerId, fileId);
  return await ring.decrypt(kid, wrapped.subarray(1), aad, "data key");
}

/**
 * Re-wraps a data key under the ring's active master key in the current
 * format (key rotation, and the upgrade of version 1 keys). The ciphertext
 * of the file is untouched. Callers may skip keys whose
 * `kid === ring.activeKid` and whose version is {@linkcode WRAP_VERSION}.
 *
 * @param ring The key ring.
 * @param wrappedKey The current kid and wrapped bytes.
 * @param ownerId The file's owner (bound into the new wrap).
 * @param fileId The file id it was wrapped for.
 * @returns The key wrapped under the active kid, version 2.
 * @throws {UnknownKeyError} if the ring does not hold the current kid.
 * @throws {DecryptionError} as {@linkcode unwrapKey}.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { generateDataKey, rewrapKey, wrapKey } from "./envelope.ts";
 * const old = await KeyRing.create([{ kid: "old", key: new Uint8Array(32) }]);
 * const wrapped = await wrapKey(old, generateDataKey(), "owner-1", "file-1");
 * const ring = await KeyRing.create([
 *   { kid: "new", key: new Uint8Array(32).fill(1) },
 *   { kid: "old", key: new Uint8Array(32) },
 * ]);
 * const rewrapped = await rewrapKey(ring, wrapped, "owner-1", "file-1"); // kid "new"
 * ```
 */
export async function rewrapKey(
  ring: KeyRing,
  wrappedKey: WrappedKey,
  ownerId: string,
  fileId: string,
): Promise<WrappedKey> {
  const dek = await unwrapKey(ring, wrappedKey, ownerId, fileId);
  try {
    return await wrapKey(ring, dek, ownerId, fileId);
  } finally {
    dek.fill(0);
  }
}
