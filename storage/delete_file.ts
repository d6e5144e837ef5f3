/**
 * Deleting a file, in the order that makes it unrecoverable first
 * (crypto-shredding): its share links (they stop at once), the key sidecar in the bucket and the wrapped key in
 * the record go before the ciphertext, then the record, the staged upload
 * and any queued job. The owner's quota is released unless the upload had
 * already failed (which released it).
 */
import type { Services } from "../services.ts";
import type { FileRecord } from "./file_store.ts";
import { ciphertextKey, sidecarKey } from "./object_keys.ts";

/**
 * Deletes everything belonging to a file.
 *
 * @param services Stores, staging, queue and user accounts.
 * @param record The record (already checked to belong to the caller).
 */
export async function deleteFile(services: Services, record: FileRecord): Promise<void> {
  const { files, store, staging, queue, users, log, shares } = services;
  await shares.revokeAllForFile(record.id);
  await store.delete(sidecarKey(record.owner, record.id));
  await files.clear(record.id, "wrapped_dek");
  await store.delete(ciphertextKey(record.owner, record.id));
  const status = await files.delete(record);
  await queue.remove(record.id).catch(() => 0);
  await staging.remove(record.id);
  // A failed upload already gave its bytes back; a concurrent delete found nothing.
  if (status !== undefined && status !== "failed") {
    await users.adjustUsedBytes(record.owner, -record.size);
  }
  log.info("file.deleted", { file_id: record.id, bytes: record.size });
}
