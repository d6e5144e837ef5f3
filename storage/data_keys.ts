/**
 * A file's data key (DEK) as the record keeps it: wrapped by a master key
 * and bound to the file's owner and id, base64 in the `wrapped_dek` field
 * (docs/FORMAT.md section 8). New keys are generated and wrapped when an
 * upload is accepted; the worker and the download routes unwrap them. Raw
 * DEKs are never stored or logged.
 */
import {
  DecryptionError,
  generateDataKey,
  type KeyRing,
  rewrapKey,
  unwrapKey,
  WRAP_VERSION,
  wrapKey,
  wrappedKeyVersion,
} from "../crypto/mod.ts";
import type { FileRecord } from "./file_store.ts";

/**
 * A record's data key cannot be had: it was destroyed (the file is being
 * deleted), or its wrapped bytes do not unwrap under the master key they
 * name (modified, bound to another owner or file, or a different key with
 * that id). The HTTP layer answers `key-unavailable`; an unknown key id is
 * the crypto module's `UnknownKeyError` instead.
 */
export class DataKeyError extends Error {
  constructor(readonly fileId: string, readonly kid: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "DataKeyError";
  }
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function wrappedBytes(record: FileRecord, action: string): Uint8Array {
  if (!record.wrapped_dek) {
    throw new DataKeyError(
      record.id,
      record.kid,
      `Cannot ${action} the key of ${record.id}: it was destroyed`,
    );
  }
  try {
    return Uint8Array.from(atob(record.wrapped_dek), (c) => c.charCodeAt(0));
  } catch (cause) {
    throw new DataKeyError(
      record.id,
      record.kid,
      `Cannot ${action} the key of ${record.id}: not base64`,
      cause,
    );
  }
}

/** Generates a new DEK for a file, wrapped under the active master key and bound to its owner. */
export async function newWrappedDataKey(
  ring: KeyRing,
  ownerId: string,
  fileId: string,
): Promise<Pick<FileRecord, "kid" | "wrapped_dek">> {
  const { kid, wrapped } = await wrapKey(ring, generateDataKey(), ownerId, fileId);
  return { kid, wrapped_dek: toBase64(wrapped) };
}

/**
 * The wrap format of a record's key: 2 binds the owner, 1 is the old format
 * that `keys:rotate` upgrades; `undefined` when the key is gone or malformed.
 */
export function wrapVersionOf(record: FileRecord): 1 | 2 | undefined {
  try {
    return wrappedKeyVersion(wrappedBytes(record, "read"));
  } catch {
    return undefined;
  }
}

/** Whether a record's key is wrapped under the ring's active key in the current format. */
export function isWrappedKeyCurrent(ring: KeyRing, record: FileRecord): boolean {
  return record.kid === ring.activeKid && wrapVersionOf(record) === WRAP_VERSION;
}

/**
 * Unwraps a record's DEK, checking its binding to the record's owner and id.
 *
 * @throws {DataKeyError} if the key was shredded or does not unwrap.
 * @throws {UnknownKeyError} if the ring does not hold the record's kid.
 */
export async function unwrapDataKey(ring: KeyRing, record: FileRecord): Promise<Uint8Array> {
  const wrapped = wrappedBytes(record, "unwrap");
  try {
    return await unwrapKey(ring, { kid: record.kid, wrapped }, record.owner, record.id);
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    throw new DataKeyError(
      record.id,
      record.kid,
      `Cannot unwrap the key of ${record.id}: it does not verify under master key ` +
        `${record.kid} for owner ${record.owner}`,
      error,
    );
  }
}

/**
 * Re-wraps a record's DEK under the ring's active master key in the current
 * format, bound to the record's owner (key rotation; the ciphertext is
 * untouched).
 *
 * @throws {DataKeyError} as {@linkcode unwrapDataKey}.
 */
export async function rewrapDataKey(
  ring: KeyRing,
  record: FileRecord,
): Promise<Pick<FileRecord, "kid" | "wrapped_dek">> {
  const wrapped = wrappedBytes(record, "re-wrap");
  try {
    const next = await rewrapKey(ring, { kid: record.kid, wrapped }, record.owner, record.id);
    return { kid: next.kid, wrapped_dek: toBase64(next.wrapped) };
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    throw new DataKeyError(
      record.id,
      record.kid,
      `Cannot re-wrap the key of ${record.id}: it does not verify`,
      error,
    );
  }
}
