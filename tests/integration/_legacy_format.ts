/**
 * Turns a stored file into what Coffer wrote before the owner was bound in
 * (wrap and sidecar version 1, docs/FORMAT.md sections 8 and 10): the data
 * key wrapped with `"coffer/v1 dek" ‖ 0x00 ‖ kid ‖ 0x00 ‖ fileId` as AAD,
 * and a version 1 sidecar whose metadata is sealed with
 * `"coffer/v1 file-metadata" ‖ 0x00 ‖ fileId`. Written from the layout in
 * FORMAT.md, not with Coffer's own functions, so the tests also check that
 * the documented old layout is what the code still reads.
 */
import type { Services } from "../../services.ts";
import { unwrapDataKey } from "../../storage/data_keys.ts";
import type { FileRecord } from "../../storage/file_store.ts";
import { sidecarKey } from "../../storage/object_keys.ts";

const encoder = new TextEncoder();

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** The version 1 sidecar JSON of a record whose `wrapped_dek` is version 1. */
async function legacySidecar(
  ring: Services["keyRing"],
  record: FileRecord,
): Promise<Uint8Array> {
  const meta = {
    name: record.name,
    content_type: record.content_type,
    size: record.size,
    created_at: record.created_at,
    stored_at: record.stored_at,
    sha256: record.sha256,
    ciphertext_size: record.ciphertext_size,
  };
  const sealed = await ring.encrypt(
    encoder.encode(JSON.stringify(meta)),
    encoder.encode(`coffer/v1 file-metadata\0${record.id}`),
  );
  return encoder.encode(JSON.stringify({
    v: 1,
    file_id: record.id,
    owner_id: record.owner,
    kid: record.kid,
    wrapped_dek: record.wrapped_dek,
    meta_kid: sealed.kid,
    sealed_meta: base64(sealed.bytes),
  }));
}

/**
 * Rewrites a stored file's record and sidecar in the version 1 format (the
 * ciphertext is untouched).
 *
 * @returns The version 1 record.
 */
export async function downgradeToV1(services: Services, fileId: string): Promise<FileRecord> {
  const { files, keyRing, store } = services;
  const record = (await files.get(fileId))!;
  const dek = await unwrapDataKey(keyRing, record);
  const wrapped = await keyRing.encrypt(
    dek,
    encoder.encode(`coffer/v1 dek\0${keyRing.activeKid}\0${fileId}`),
  );
  const legacy: FileRecord = { ...record, kid: wrapped.kid, wrapped_dek: base64(wrapped.bytes) };
  await files.update(fileId, { kid: legacy.kid, wrapped_dek: legacy.wrapped_dek });
  const body = await legacySidecar(keyRing, legacy);
  await store.put(sidecarKey(record.owner, fileId), ReadableStream.from([body]), {
    contentLength: body.length,
  });
  return legacy;
}
