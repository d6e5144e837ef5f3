/**
 * Freeing a resumable upload that will not complete (terminated by its
 * owner, or expired and swept by the janitor): its staged bytes and its
 * quota hold go, then the upload itself. An upload that already became a
 * file keeps neither (the file's record and job own the staged bytes now),
 * so only the upload is forgotten.
 *
 * @module
 */
import type { StagingArea } from "./staging.ts";
import type { UploadSlots } from "./upload_slots.ts";
import type { UploadState, UploadStore } from "./upload_store.ts";

/** What freeing an upload touches. */
export interface FreeUploadDeps {
  staging: StagingArea;
  uploadSlots: UploadSlots;
  uploads: UploadStore;
}

/**
 * Frees `upload`.
 *
 * @param deps The staging area, the quota holds and the upload store.
 * @param upload The upload as stored.
 */
export async function freeUpload(deps: FreeUploadDeps, upload: UploadState): Promise<void> {
  if (!upload.fileId) {
    await deps.staging.remove(upload.id);
    await deps.uploadSlots.releaseHold(upload.owner, upload.id);
  }
  await deps.uploads.remove(upload.id);
}
