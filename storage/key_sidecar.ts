/**
 * The key sidecar: a small JSON object beside each ciphertext
 * (`keys/<owner>/<id>`) holding the wrapped data key and the file's metadata
 * sealed under the active master key. With the bucket and the master keys
 * alone, `deno task reindex` rebuilds every file record from these; deleting
 * the sidecar first is what crypto-shreds a file. Layout: docs/FORMAT.md.
 */
import type { KeyRing } from "../crypto/mod.ts";
import type { FileRecord } from "./file_store.ts";
import type { ObjectStore } from "./object_store.ts";
import { sidecarKey } from "./object_keys.ts";
import { collectBytes, SMALL_OBJECT_MAX_BYTES } from "./streams.ts";

/** The sidecar as stored (JSON). */
export interface KeySidecar {
  v: 1;
  file_id: string;
  owner_id: string;
  kid: string;
  /** Base64 of the wrapped DEK. */
  wrapped_dek: string;
  /** Key id of the master key that sealed the metadata. */
  meta_kid: string;
  /** Base64 of the sealed metadata JSON: nonce (12) ‖ ciphertext ‖ tag (16). */
  sealed_meta: string;
}

type SealedMetadata = Pick<
  FileRecord,
  "name" | "content_type" | "size" | "created_at" | "stored_at" | "sha256" | "ciphertext_size"
>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** AAD binding sealed metadata to its purpose and file. */
function metaAad(fileId: string): Uint8Array {
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
 * Writes the sidecar of a stored file (replacing any earlier one).
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
  const sealed = await ring.encrypt(encoder.encode(JSON.stringify(meta)), metaAad(record.id));
  const sidecar: KeySidecar = {
    v: 1,
    file_id: record.id,
    owner_id: record.owner,
    kid: record.kid,
    wrapped_dek: record.wrapped_dek,
    meta_kid: sealed.kid,
    sealed_meta: toBase64(sealed.bytes),
  };
  const body = encoder.encode(JSON.stringify(sidecar));
  await store.put(sidecarKey(record.owner, record.id), ReadableStream.from([body]), {
    contentLength: body.length,
  });
}

/** Reads a sidecar object as stored (no decryption). */
export async function readKeySidecar(store: ObjectStore, key: string): Promise<KeySidecar> {
  const text = decoder.decode(await collectBytes(await store.get(key), SMALL_OBJECT_MAX_BYTES));
  let sidecar: KeySidecar | null;
  try {
    sidecar = JSON.parse(text);
  } catch {
    sidecar = null;
  }
  if (sidecar?.v !== 1 || typeof sidecar.file_id !== "string") {
    throw new Error(`Cannot read key sidecar ${key}: unknown layout`);
  }
  return sidecar;
}

/**
 * Rebuilds a `stored` file record from its sidecar.
 *
 * @throws if the metadata does not open under the key ring.
 */
export async function recordFromSidecar(ring: KeyRing, sidecar: KeySidecar): Promise<FileRecord> {
  const meta = JSON.parse(
    new TextDecoder().decode(
      await ring.decrypt(
        sidecar.meta_kid,
        fromBase64(sidecar.sealed_meta),
        metaAad(sidecar.file_id),
      ),
    ),
  ) as SealedMetadata;
  return {
    ...meta,
    id: sidecar.file_id,
    owner: sidecar.owner_id,
    status: "stored",
    kid: sidecar.kid,
    wrapped_dek: sidecar.wrapped_dek,
  };
}
