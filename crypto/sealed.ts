// This module is browser compatible.

/**
 * Sealed blobs: small values (file name and content type sidecars, user
 * records) encrypted under the active master key, self-describing so they
 * can be opened with the key ring alone.
 *
 * ```
 * sealed = version 0x01 (1) ‖ kidLength (1) ‖ kid (ASCII, 1–64)
 *          ‖ nonce (12) ‖ AES-256-GCM ciphertext (n) ‖ tag (16)
 * aad    = "coffer/v1 sealed" ‖ 0x00 ‖ UTF-8(label) ‖ 0x00 ‖ version ‖ kidLength ‖ kid
 * ```
 *
 * The label names the purpose and owner of the value (e.g.
 * `file-meta:<fileId>`), so a sealed blob moved to another record or field
 * fails to open.
 *
 * @module
 */

import { assertBytes, concat, encodeIdentifier, utf8 } from "./_bytes.ts";
import { NONCE_SIZE, TAG_SIZE } from "./_params.ts";
import { DecryptionError } from "./errors.ts";
import type { KeyRing } from "./key_ring.ts";

const VERSION = 0x01;
const decoder = new TextDecoder("utf-8", { fatal: true });

interface SealedHeader {
  kid: string;
  /** version ‖ kidLength ‖ kid */
  header: Uint8Array;
  /** nonce ‖ ciphertext ‖ tag */
  body: Uint8Array;
}

function sealAad(label: string, header: Uint8Array): Uint8Array {
  return concat(
    utf8("coffer/v1 sealed"),
    new Uint8Array([0]),
    encodeIdentifier(label, "label"),
    new Uint8Array([0]),
    header,
  );
}

function parseSealed(sealed: Uint8Array): SealedHeader {
  assertBytes(sealed, "sealed bytes");
  if (sealed.length < 3 || sealed[0] !== VERSION) {
    throw new DecryptionError("Cannot open sealed bytes: unknown version or too short");
  }
  const kidLength = sealed[1];
  const headerLength = 2 + kidLength;
  if (kidLength === 0 || sealed.length < headerLength + NONCE_SIZE + TAG_SIZE) {
    throw new DecryptionError("Cannot open sealed bytes: too short");
  }
  let kid: string;
  try {
    kid = decoder.decode(sealed.subarray(2, headerLength));
  } catch {
    throw new DecryptionError("Cannot open sealed bytes: malformed key id");
  }
  return {
    kid,
    header: sealed.subarray(0, headerLength),
    body: sealed.subarray(headerLength),
  };
}

/**
 * Encrypts a small value under the ring's active master key.
 *
 * @param ring The key ring.
 * @param plaintext The bytes to seal.
 * @param label Purpose and owner of the value, e.g. `file-meta:<fileId>`;
 *   the same label is needed to open it.
 * @returns `0x01 ‖ kidLength ‖ kid ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
 * @throws {TypeError} if the label is empty or contains U+0000.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { sealBytes } from "./sealed.ts";
 * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
 * const sealed = await sealBytes(ring, new TextEncoder().encode("{}"), "file-meta:f1");
 * ```
 */
export async function sealBytes(
  ring: KeyRing,
  plaintext: Uint8Array,
  label: string,
): Promise<Uint8Array> {
  assertBytes(plaintext, "plaintext");
  const kid = utf8(ring.activeKid);
  const header = concat(new Uint8Array([VERSION, kid.length]), kid);
  const { bytes } = await ring.encrypt(plaintext, sealAad(label, header));
  return concat(header, bytes);
}

/**
 * Opens a value sealed by {@linkcode sealBytes}.
 *
 * @param ring The key ring.
 * @param sealed The sealed bytes.
 * @param label The label it was sealed with.
 * @returns The plaintext.
 * @throws {UnknownKeyError} if the ring does not hold the blob's kid.
 * @throws {DecryptionError} if the blob is malformed or modified, or the
 *   label differs.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { openBytes, sealBytes } from "./sealed.ts";
 * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
 * const sealed = await sealBytes(ring, new Uint8Array([1, 2]), "user:u1");
 * await openBytes(ring, sealed, "user:u1"); // Uint8Array [1, 2]
 * ```
 */
export async function openBytes(
  ring: KeyRing,
  sealed: Uint8Array,
  label: string,
): Promise<Uint8Array> {
  const { kid, header, body } = parseSealed(sealed);
  return await ring.decrypt(kid, body, sealAad(label, header), "sealed bytes");
}

/**
 * Returns the key id a sealed blob names, without decrypting it (to find
 * blobs that still need {@linkcode resealBytes} after a rotation).
 *
 * @param sealed The sealed bytes.
 * @returns The kid.
 * @throws {DecryptionError} if the blob is malformed.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { sealBytes, sealedKeyId } from "./sealed.ts";
 * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
 * sealedKeyId(await sealBytes(ring, new Uint8Array(), "x")); // "k1"
 * ```
 */
export function sealedKeyId(sealed: Uint8Array): string {
  return parseSealed(sealed).kid;
}

/**
 * Re-seals a blob under the ring's active master key (key rotation).
 *
 * @param ring The key ring.
 * @param sealed The sealed bytes.
 * @param label The label it was sealed with (kept).
 * @returns The blob sealed under the active kid.
 * @throws {UnknownKeyError} if the ring does not hold the blob's kid.
 * @throws {DecryptionError} as {@linkcode openBytes}.
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * import { resealBytes, sealBytes } from "./sealed.ts";
 * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
 * const resealed = await resealBytes(ring, await sealBytes(ring, new Uint8Array(), "x"), "x");
 * ```
 */
export async function resealBytes(
  ring: KeyRing,
  sealed: Uint8Array,
  label: string,
): Promise<Uint8Array> {
  const plaintext = await openBytes(ring, sealed, label);
  try {
    return await sealBytes(ring, plaintext, label);
  } finally {
    plaintext.fill(0);
  }
}
