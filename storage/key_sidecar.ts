/**
 * The key sidecar: a small JSON object beside each ciphertext
 * (`keys/<owner>/<id>`) holding the wrapped data key and the file's metadata
 * sealed under the active master key. With the bucket and the master keys
 * alone, `deno task reindex` rebuilds every file record from these; deleting
 * the sidecar first is what crypto-shreds a file. Layout (both versions,
 * byte by byte): docs/FORMAT.md section 10.
 *
 * Version 2 binds the owner: the metadata is a sealed blob whose label
 * names owner and file, and the wrapped key (written as version 2) binds
 * them too, so a sidecar relabelled with another `owner_id` does not open.
 * Version 1 sidecars (metadata bound to the file id only) are still read;
 * `deno task keys:rotate` rewrites them as version 2.
 */
import { DecryptionError, type KeyRing, openBytes, sealBytes, sealedKeyId } from "../crypto/mod.ts";
import { isWrappedKeyCurrent } from "./data_keys.ts";
import type { FileRecord } from "./file_store.ts";
import { ID_PATTERN } from "./ids.ts";
import type { ObjectStore } from "./object_store.ts";
import { sidecarKey } from "./object_keys.ts";
import { collectBytes, SMALL_OBJECT_MAX_BYTES } from "./streams.ts";

/** The sidecar layout {@linkcode writeKeySidecar} writes. */
export const SIDECAR_VERSION = 2;

/** Fields of both versions (JSON, in this order). */
interface SidecarFields {
  file_id: string;
  owner_id: string;
  /** Key id of the master key that wraps the DEK. */
  kid: string;
  /** Base64 of the wrapped DEK (docs/FORMAT.md section 8, either wrap version). */
  wrapped_dek: string;
}

/** Version 2: `sealed_meta` is a sealed blob (FORMAT.md section 9) labelled with owner and file. */
export interface KeySidecarV2 extends SidecarFields {
  v: 2;
  /** Base64 of `sealBytes(metadata JSON, "file-meta:<owner_id>:<file_id>")`. */
  sealed_meta: string;
}

/** Version 1 (read only): the metadata is bound to the file id alone. */
export interface KeySidecarV1 extends SidecarFields {
  v: 1;
  /** Key id of the master key that sealed the metadata. */
  meta_kid: string;
  /** Base64 of nonce (12) ‖ ciphertext ‖ tag (16), AAD `"coffer/v1 file-metadata" ‖ 0x00 ‖ file_id`. */
  sealed_meta: string;
}

/** The sidecar as stored (JSON). */
export type KeySidecar = KeySidecarV1 | KeySidecarV2;

type SealedMetadata = Pick<
  FileRecord,
  "name" | "content_type" | "size" | "created_at" | "stored_at" | "sha256" | "ciphertext_size"
>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The sealed-blob label of a version 2 sidecar's metadata. */
export function metadataLabel(ownerId: string, fileId: string): string {
  return `file-meta:${ownerId}:${fileId}`;
}

/** AAD of a version 1 sidecar's metadata. */
function metaAadV1(fileId: string): Uint8Array {
  return encoder.encode(`coffer/v1 file-metadata\0${fileId}`);
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return btoa(text);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * Writes the sidecar of a stored file (replacing any earlier one), as version 2.
 *
 * @param record A record with `wrapped_dek` and final sizes.
 */
export async function writeKeySidecar(
  store: ObjectStore,
  ring: KeyRing,
  record: FileRecord,
): Promise<void> {
  if (!record.wrapped_dek) throw new Error("Cannot write key sidecar: the record has no key");
  const meta: SealedMetadata = {
    name: record.name,
    content_type: record.content_type,
    size: record.size,
    created_at: record.created_at,
    stored_at: record.stored_at,
    sha256: record.sha256,
    ciphertext_size: record.ciphertext_size,
  };
  const sealed = await sealBytes(
    ring,
    encoder.encode(JSON.stringify(meta)),
    metadataLabel(record.owner, record.id),
  );
  const sidecar: KeySidecarV2 = {
    v: 2,
    file_id: record.id,
    owner_id: record.owner,
    kid: record.kid,
    wrapped_dek: record.wrapped_dek,
    sealed_meta: toBase64(sealed),
  };
  const body = encoder.encode(JSON.stringify(sidecar));
  await store.put(sidecarKey(record.owner, record.id), ReadableStream.from([body]), {
    contentLength: body.length,
  });
}

function isSidecar(value: unknown): value is KeySidecar {
  const sidecar = value as Partial<KeySidecarV1 & { v: number }> | null;
  if (sidecar?.v !== 1 && sidecar?.v !== 2) return false;
  const texts = [sidecar.kid, sidecar.wrapped_dek, sidecar.sealed_meta];
  if (sidecar.v === 1) texts.push(sidecar.meta_kid);
  return typeof sidecar.file_id === "string" && ID_PATTERN.test(sidecar.file_id) &&
    typeof sidecar.owner_id === "string" && ID_PATTERN.test(sidecar.owner_id) &&
    texts.every((text) => typeof text === "string" && text.length > 0);
}

/** Reads a sidecar object as stored (no decryption; the layout and ids are checked). */
export async function readKeySidecar(store: ObjectStore, key: string): Promise<KeySidecar> {
  const text = decoder.decode(await collectBytes(await store.get(key), SMALL_OBJECT_MAX_BYTES));
  let sidecar: unknown;
  try {
    sidecar = JSON.parse(text);
  } catch {
    sidecar = null;
  }
  if (!isSidecar(sidecar)) throw new Error(`Cannot read key sidecar ${key}: unknown layout`);
  return sidecar;
}

async function openMetadata(ring: KeyRing, sidecar: KeySidecar): Promise<Uint8Array> {
  const sealed = fromBase64(sidecar.sealed_meta);
  if (sidecar.v === 1) {
    return await ring.decrypt(sidecar.meta_kid, sealed, metaAadV1(sidecar.file_id));
  }
  return await openBytes(ring, sealed, metadataLabel(sidecar.owner_id, sidecar.file_id));
}

/**
 * Rebuilds a `stored` file record from its sidecar. The wrapped key is not
 * unwrapped here, and the ciphertext is not looked at: reindex does both.
 *
 * @throws {Error} if the metadata does not open for the sidecar's owner and
 *   file (a relabelled or modified sidecar), naming both.
 * @throws {UnknownKeyError} if the ring does not hold the metadata's key.
 */
export async function recordFromSidecar(ring: KeyRing, sidecar: KeySidecar): Promise<FileRecord> {
  let opened: Uint8Array;
  try {
    opened = await openMetadata(ring, sidecar);
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    throw new Error(
      `the sealed metadata does not verify for owner ${sidecar.owner_id} and file ` +
        sidecar.file_id,
      { cause: error },
    );
  }
  const meta = JSON.parse(decoder.decode(opened)) as SealedMetadata;
  return {
    ...meta,
    id: sidecar.file_id,
    owner: sidecar.owner_id,
    status: "stored",
    kid: sidecar.kid,
    wrapped_dek: sidecar.wrapped_dek,
  };
}

/**
 * Whether a stored file's sidecar is entirely current: version 2, naming
 * the record's owner and wrapped key, the key and the metadata under the
 * ring's active master key, and the key in the current wrap format.
 */
export function isSidecarCurrent(ring: KeyRing, record: FileRecord, sidecar?: KeySidecar): boolean {
  if (sidecar?.v !== SIDECAR_VERSION || !isWrappedKeyCurrent(ring, record)) return false;
  let metaKid: string;
  try {
    metaKid = sealedKeyId(fromBase64(sidecar.sealed_meta));
  } catch {
    return false;
  }
  return sidecar.kid === ring.activeKid && metaKid === ring.activeKid &&
    sidecar.wrapped_dek === record.wrapped_dek && sidecar.owner_id === record.owner &&
    sidecar.file_id === record.id;
}
