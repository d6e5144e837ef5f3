/**
 * The ownership check every file route runs: the record exists and belongs
 * to the caller, or the answer is the one 404 — the same for another user's
 * file and for an id that never existed, so ids cannot be probed.
 */
import { CofferError } from "../errors.ts";
import type { FileRecord, FileStore } from "../storage/file_store.ts";
import { ID_PATTERN } from "../storage/ids.ts";

/**
 * Loads the caller's file or throws FILE_NOT_FOUND.
 *
 * @param files The file store.
 * @param ownerId The signed-in user's id.
 * @param fileId The id from the path.
 */
export async function ownedFile(
  files: FileStore,
  ownerId: string,
  fileId: string,
): Promise<FileRecord> {
  const record = ID_PATTERN.test(fileId) ? await files.getOwned(ownerId, fileId) : undefined;
  if (!record) throw new CofferError("FILE_NOT_FOUND");
  return record;
}

/** Like {@linkcode ownedFile}, and the file must be `stored` (409 otherwise). */
export async function storedFile(
  files: FileStore,
  ownerId: string,
  fileId: string,
): Promise<FileRecord> {
  const record = await ownedFile(files, ownerId, fileId);
  if (record.status !== "stored") {
    throw new CofferError("FILE_NOT_READY", `The file is ${record.status}`);
  }
  return record;
}
