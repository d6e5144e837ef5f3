/**
 * Opens a stored file's ciphertext for random access under the record's own
 * context (`fileContext(owner, id)`), which checks the key commitment in its
 * 56-byte header with one ranged read. A data key that was wrapped for
 * another owner or file, or a ciphertext moved from another record, fails
 * here before anything is decrypted or handed out: `GET /api/files/:id/key`
 * and `reindex` rely on that (docs/FORMAT.md sections 4 and 7).
 */
import {
  type CryptoEngine,
  DecryptionError,
  fileContext,
  openRangeDecryptor,
  type RangeDecryptor,
} from "../crypto/mod.ts";
import type { FileRecord } from "./file_store.ts";
import { ciphertextKey } from "./object_keys.ts";
import type { ObjectStore } from "./object_store.ts";
import { collectBytes } from "./streams.ts";

/** How to open a stored ciphertext. */
export interface OpenStoredOptions {
  /** The stored length, if known better than the record's (e.g. from a HEAD). */
  ciphertextSize?: number;
  /** The AES-GCM engine (default: WebCrypto). */
  engine?: CryptoEngine;
}

/**
 * Ranged reads of a stored object for the range decryptor. A store refuses
 * a range that starts past the object's end (RangeError): the object is
 * shorter than its record says, which is truncation, so it fails like any
 * other authenticity check.
 */
function ciphertextReader(store: ObjectStore, key: string) {
  return async (start: number, end: number): Promise<Uint8Array> => {
    try {
      return await collectBytes(await store.get(key, { start, end }), end - start + 1);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new DecryptionError(`Cannot read ciphertext bytes ${start}-${end}: past the end`, {
        cause: error,
      });
    }
  };
}

/**
 * Opens the record's ciphertext with its data key under the record's context.
 *
 * @param store The object store holding `files/<owner>/<id>`.
 * @param record The file record (owner, id and `ciphertext_size` are used).
 * @param dek The record's unwrapped data key.
 * @param options The stored length and the engine.
 * @returns A decryptor whose commitment has been checked.
 * @throws {DecryptionError} if the commitment does not match (wrong key,
 *   owner or file id, or a modified header), the length is impossible, or the
 *   object is shorter than the record says.
 */
export async function openStoredCiphertext(
  store: ObjectStore,
  record: FileRecord,
  dek: Uint8Array,
  options: OpenStoredOptions = {},
): Promise<RangeDecryptor> {
  const key = ciphertextKey(record.owner, record.id);
  return await openRangeDecryptor(dek, fileContext(record.owner, record.id), {
    ciphertextSize: options.ciphertextSize ?? record.ciphertext_size ?? 0,
    readRange: ciphertextReader(store, key),
  }, { engine: options.engine });
}
