/**
 * A file's data key (DEK) as the record keeps it: wrapped by a master key
 * and bound to the file id, base64 in the `wrapped_dek` field. New keys are
 * generated and wrapped when an upload is accepted; the worker and the
 * download routes unwrap them. Raw DEKs are never stored or logged.
 */
import { generateDataKey, type KeyRing, rewrapKey, unwrapKey, wrapKey } from "../crypto/mod.ts";
import type { FileRecord } from "./file_store.ts";

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** Generates a new DEK for `fileId`, wrapped under the active master key. */
export async function newWrappedDataKey(
  ring: KeyRing,
  fileId: string,
): Promise<Pick<FileRecord, "kid" | "wrapped_dek">> {
  const { kid, wrapped } = await wrapKey(ring, generateDataKey(), fileId);
  return { kid, wrapped_dek: toBase64(wrapped) };
}

/**
 * Unwraps a record's DEK.
 *
 * @throws {Error} if the key was shredded or does not unwrap under the ring.
 */
export async function unwrapDataKey(ring: KeyRing, record: FileRecord): Promise<Uint8Array> {
  if (!record.wrapped_dek) {
    throw new Error(`Cannot unwrap the key of ${record.id}: it was destroyed`);
  }
  const wrapped = Uint8Array.from(atob(record.wrapped_dek), (c) => c.charCodeAt(0));
  return await unwrapKey(ring, { kid: record.kid, wrapped }, record.id);
}

/**
 * Re-wraps a record's DEK under the ring's active master key (key rotation;
 * the ciphertext is untouched).
 *
 * @throws {Error} as {@linkcode unwrapDataKey}.
 */
export async function rewrapDataKey(
  ring: KeyRing,
  record: FileRecord,
): Promise<Pick<FileRecord, "kid" | "wrapped_dek">> {
  if (!record.wrapped_dek) {
    throw new Error(`Cannot re-wrap the key of ${record.id}: it was destroyed`);
  }
  const wrapped = Uint8Array.from(atob(record.wrapped_dek), (c) => c.charCodeAt(0));
  const next = await rewrapKey(ring, { kid: record.kid, wrapped }, record.id);
  return { kid: next.kid, wrapped_dek: toBase64(next.wrapped) };
}
