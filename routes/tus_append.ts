/**
 * The two steps of a tus upload that write: appending one request's bytes at
 * the upload's offset, and turning a complete upload into a file. Both run
 * under the upload's lock (storage/upload_lock.ts), taken by routes/tus.ts.
 *
 * Durability: the bytes are flushed to the staging file before the offset
 * moves in Redis, and the offset moves before the answer goes out, so an
 * offset a client was told is never lost. Bytes past the recorded offset
 * (a process that died between the flush and the offset) are cut off by the
 * next append. A body that breaks off without a checksum keeps what arrived
 * (the client resumes from there, as tus asks); with `Upload-Checksum` the
 * chunk is all or nothing.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import type { UploadLock } from "../storage/upload_lock.ts";
import type { UploadState } from "../storage/upload_store.ts";
import { cutWhenIdle } from "./idle_body.ts";
import type { UploadChecksum } from "./tus_headers.ts";
import { queueStagedFile } from "./uploads.ts";

/** A stream that hashes what passes through it. */
function hashing(algorithm: string) {
  const hash = createHash(algorithm);
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hash.update(chunk);
      controller.enqueue(chunk);
    },
  });
  return Object.assign(stream, { digest: () => hash.digest("base64") });
}

/** When an upload that progresses now expires (ms since the epoch). */
export function nextExpiry(services: Services): number {
  return Date.now() + services.config.uploadExpirySeconds * 1000;
}

/**
 * Appends a request body at `upload.offset` and records the new offset.
 *
 * @param upload The upload as read under `lock`; its offset is updated.
 * @returns The upload with its new offset.
 * @throws {CofferError} `CHECKSUM_MISMATCH` (the chunk is discarded),
 *   `REQUEST_TIMEOUT` after an idle cut (the bytes before it are kept),
 *   `UPLOAD_LOCKED` if the lock was lost meanwhile; the body's own error
 *   when the client went away (kept bytes recorded first).
 */
export async function appendChunk(
  services: Services,
  upload: UploadState,
  lock: UploadLock,
  body: ReadableStream<Uint8Array>,
  checksum: UploadChecksum | undefined,
): Promise<UploadState> {
  const { staging, uploads, config } = services;
  const hash = checksum ? hashing(checksum.algorithm) : undefined;
  let stream = cutWhenIdle(body, config.bodyIdleSeconds * 1000);
  if (hash) stream = stream.pipeThrough(hash);
  const { written, error } = await staging.appendAt(
    upload.id,
    upload.offset,
    stream,
    upload.length - upload.offset,
  );
  if (hash && (error || hash.digest() !== checksum!.digest)) {
    await staging.truncate(upload.id, upload.offset);
    if (error) throw error;
    throw new CofferError(
      "CHECKSUM_MISMATCH",
      `The chunk's ${checksum!.algorithm} does not match Upload-Checksum; it was discarded`,
    );
  }
  if (written > 0) {
    const to = upload.offset + written;
    const expiresAt = nextExpiry(services);
    if (!await uploads.advance(upload.id, lock.token, upload.offset, to, expiresAt)) {
      throw new CofferError("UPLOAD_LOCKED", "The upload's lock was lost; ask HEAD and resume");
    }
    upload = { ...upload, offset: to, expiresAt };
  }
  if (error) throw error;
  return upload;
}

/**
 * Turns a complete upload into a file record and job, as `POST /api/files`
 * does (the same function), once: the file id is recorded on the upload, so
 * a retried last request or a HEAD learns it again.
 *
 * @returns The file id.
 * @throws {CofferError} `QUOTA_EXCEEDED` if the hold was lost and the bytes
 *   no longer fit; `FILE_LIMIT_REACHED`.
 */
export async function finishUpload(services: Services, upload: UploadState): Promise<string> {
  if (upload.fileId) return upload.fileId;
  const { uploadSlots, users, uploads, log } = services;
  if (!await uploadSlots.commitHold(upload.owner, upload.id, upload.length)) {
    throw new CofferError("QUOTA_EXCEEDED", "This upload no longer fits your quota");
  }
  try {
    const record = await queueStagedFile(services, { id: upload.owner }, {
      id: upload.id,
      name: upload.name,
      contentType: upload.contentType,
      size: upload.length,
    });
    await uploads.complete(upload.id, record.id);
    log.info("tus.completed", { upload_id: upload.id, bytes: upload.length });
    return record.id;
  } catch (error) {
    // Hand the bytes back to the hold, so that a retry (or the janitor) finds them there.
    await users.adjustUsedBytes(upload.owner, -upload.length).catch(() => {});
    await uploadSlots.hold(upload.owner, upload.id, upload.length).catch(() => {});
    throw error;
  }
}
