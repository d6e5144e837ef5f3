// This module is browser compatible.

/**
 * The Cobblestone context of a Coffer file.
 *
 * @module
 */

import { concat, encodeIdentifier, utf8 } from "./_bytes.ts";

const PREFIX = concat(utf8("coffer/v1"), new Uint8Array([0]));
const SEPARATOR = new Uint8Array([0]);

/**
 * Returns the context bound into a file's key derivation:
 *
 * ```
 * "coffer/v1" ‖ 0x00 ‖ UTF-8(ownerId) ‖ 0x00 ‖ UTF-8(fileId)
 * ```
 *
 * A ciphertext decrypted under another owner or file id fails the commitment
 * check before any chunk is decrypted. Ids must be non-empty, well-formed
 * strings without U+0000, which keeps the encoding unambiguous.
 *
 * @param ownerId The owning user's id.
 * @param fileId The file's id.
 * @returns The context bytes.
 * @throws {TypeError} if an id is empty, not a string, contains U+0000 or a
 *   lone surrogate.
 * @example
 * ```ts
 * import { fileContext } from "./context.ts";
 * fileContext("u1", "f1"); // "coffer/v1\0u1\0f1" as UTF-8 bytes
 * ```
 */
export function fileContext(ownerId: string, fileId: string): Uint8Array {
  return concat(
    PREFIX,
    encodeIdentifier(ownerId, "owner id"),
    SEPARATOR,
    encodeIdentifier(fileId, "file id"),
  );
}
