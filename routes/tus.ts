/**
 * `/api/uploads`: resumable uploads over tus 1.0.0 (core, creation,
 * creation-with-upload, expiration, checksum with sha1 and sha256,
 * termination), for uploads that must survive a dropped connection, a page
 * reload or a proxy's body-size limit. `POST /api/files` stays for curl and
 * the original design's clients; both end in the same record and job.
 *
 * A small handler of Coffer's own rather than `@tus/server`: the parts that
 * matter here are the ones @tus/server leaves out or does otherwise (checksum,
 * `Upload-Expires` on HEAD, expiry from the last progress, 412 for a wrong
 * version, quota holds, a cross-process lock, Coffer's problem bodies), and
 * the protocol itself is five small handlers (docs/DEVELOPMENT.md, fact 18).
 *
 * Every request needs the Bearer token; another user's upload is the same
 * 404 as an unknown one. Each request that carries bytes holds one of the
 * user's upload slots (`COFFER_MAX_CONCURRENT_UPLOADS`, shared with
 * `POST /api/files`) and the upload's lock; the declared length is held
 * against the quota from creation on (storage/upload_slots.ts).
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { newId } from "../storage/ids.ts";
import { freeUpload } from "../storage/free_upload.ts";
import type { UploadLock } from "../storage/upload_lock.ts";
import type { UploadState } from "../storage/upload_store.ts";
import type { AppEnv } from "./env.ts";
import { sanitizeContentType, sanitizeFileName } from "./file_name.ts";
import { createRouter } from "./openapi.ts";
import { TUS_OPERATIONS } from "./tus_openapi.ts";
import { appendChunk, finishUpload, nextExpiry } from "./tus_append.ts";
import {
  byteCount,
  CHECKSUM_ALGORITHMS,
  isOffsetOctetStream,
  parseChecksum,
  parseMetadata,
  TUS_VERSION,
} from "./tus_headers.ts";

/** The extensions advertised in `Tus-Extension`. */
export const TUS_EXTENSIONS = [
  "creation",
  "creation-with-upload",
  "expiration",
  "checksum",
  "termination",
];

/** How long a request waits for another request on the same upload to finish. */
const LOCK_WAIT_MS = 5000;

/** Adds `Tus-Resumable` to every answer and refuses any other protocol version (412). */
const tusProtocol: MiddlewareHandler<AppEnv> = async function tusProtocol(c, next) {
  const version = c.req.header("Tus-Resumable");
  if (c.req.method !== "OPTIONS" && version !== TUS_VERSION) {
    throw new CofferError("TUS_VERSION_UNSUPPORTED", `Send Tus-Resumable: ${TUS_VERSION}`, {
      headers: { "Tus-Version": TUS_VERSION, "Tus-Resumable": TUS_VERSION },
    });
  }
  await next();
  c.res.headers.set("Tus-Resumable", TUS_VERSION);
};

function ownUpload(upload: UploadState | undefined, userId: string): UploadState {
  if (!upload || upload.owner !== userId) throw new CofferError("UPLOAD_NOT_FOUND");
  if (upload.expiresAt <= Date.now()) {
    throw new CofferError("UPLOAD_EXPIRED", "It made no progress for too long; start again");
  }
  return upload;
}

async function lockUpload(services: Services, id: string): Promise<UploadLock> {
  const lock = await services.uploadLocks.acquire(id, LOCK_WAIT_MS);
  if (!lock) {
    throw new CofferError("UPLOAD_LOCKED", "Another request is writing this upload", {
      headers: { "Retry-After": "1" },
    });
  }
  return lock;
}

function uploadHeaders(upload: UploadState): Record<string, string> {
  return {
    "Upload-Offset": String(upload.offset),
    "Upload-Expires": new Date(upload.expiresAt).toUTCString(),
    ...(upload.fileId ? { "Coffer-File-Id": upload.fileId } : {}),
  };
}

/**
 * Writes a request's body (PATCH, or creation-with-upload) under a slot and
 * the upload's lock, and finishes the upload when the body completes it.
 */
async function writeBody(
  c: Context<AppEnv>,
  services: Services,
  id: string,
  offset: number,
): Promise<UploadState> {
  const user = c.get("user");
  const request = c.req.raw;
  const checksum = parseChecksum(request.headers.get("Upload-Checksum"));
  const length = request.headers.get("Content-Length");
  if (length === null) {
    throw new CofferError("LENGTH_REQUIRED", "Send each chunk with a Content-Length header");
  }
  const declared = byteCount("Content-Length", length);
  let upload = ownUpload(await services.uploads.get(id), user.id);
  if (offset !== upload.offset) {
    throw new CofferError("OFFSET_MISMATCH", `The upload is at ${upload.offset} bytes`, {
      headers: { "Upload-Offset": String(upload.offset) },
    });
  }
  if (offset + declared > upload.length) {
    throw new CofferError("PAYLOAD_TOO_LARGE", `The upload is ${upload.length} bytes long`);
  }
  await using slot = await services.uploadSlots.acquire(user.id);
  if (!slot) {
    const limit = services.config.maxConcurrentUploads;
    throw new CofferError("TOO_MANY_UPLOADS", `You have ${limit} uploads in progress`, {
      headers: { "Retry-After": "5" },
    });
  }
  await using lock = await lockUpload(services, id);
  upload = ownUpload(await services.uploads.get(id), user.id); // as it is now, under the lock
  if (offset !== upload.offset) {
    throw new CofferError("OFFSET_MISMATCH", `The upload is at ${upload.offset} bytes`, {
      headers: { "Upload-Offset": String(upload.offset) },
    });
  }
  if (request.body && declared > 0) {
    upload = await appendChunk(services, upload, lock, request.body, checksum);
  }
  if (upload.offset === upload.length && !upload.fileId) {
    upload = { ...upload, fileId: await finishUpload(services, upload) };
  }
  return upload;
}

/** Ends the connection after a refusal, rather than keep a client sending a body nobody reads. */
async function closingOnRefusal<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CofferError) error.headers.Connection = "close";
    throw error;
  }
}

/** `POST /api/uploads`: creation, and creation-with-upload when a body comes along. */
async function createUpload(c: Context<AppEnv>, services: Services): Promise<Response> {
  const { config, uploadSlots, staging, uploads, files } = services;
  const user = c.get("user");
  const headers = c.req.raw.headers;
  if (headers.has("Upload-Defer-Length")) {
    throw new CofferError(
      "BAD_REQUEST",
      "Upload-Defer-Length is not supported: send Upload-Length",
    );
  }
  const length = byteCount("Upload-Length", headers.get("Upload-Length"));
  if (length > config.maxFileBytes) {
    throw new CofferError("PAYLOAD_TOO_LARGE", `the limit is ${config.maxFileBytes} bytes`);
  }
  const hasBody = Number(headers.get("Content-Length") ?? "0") > 0;
  if (hasBody && !isOffsetOctetStream(headers.get("Content-Type"))) {
    throw new CofferError(
      "UNSUPPORTED_MEDIA_TYPE",
      "A creation body must be application/offset+octet-stream",
    );
  }
  const metadata = parseMetadata(headers.get("Upload-Metadata"));
  if (await files.count(user.id) >= config.maxFiles) {
    throw new CofferError("FILE_LIMIT_REACHED", `You can keep at most ${config.maxFiles} files`);
  }
  const id = newId();
  const refusal = await uploadSlots.hold(user.id, id, length);
  if (refusal === "no-user") throw new CofferError("UNAUTHORIZED");
  if (refusal) {
    const quota = (await services.users.findById(user.id))?.quota_bytes;
    throw new CofferError("QUOTA_EXCEEDED", `This upload would exceed your ${quota}-byte quota`);
  }
  let upload: UploadState = {
    id,
    owner: user.id,
    length,
    offset: 0,
    metadata: headers.get("Upload-Metadata") ?? "",
    name: sanitizeFileName(metadata.filename),
    contentType: sanitizeContentType(metadata.filetype),
    createdAt: new Date().toISOString(),
    expiresAt: nextExpiry(services),
  };
  try {
    await staging.createEmpty(id);
    await uploads.create(upload);
  } catch (error) {
    await staging.remove(id);
    await uploadSlots.releaseHold(user.id, id);
    throw error;
  }
  services.log.info("tus.created", { upload_id: id, bytes: length });
  if (hasBody) {
    upload = await writeBody(c, services, id, 0);
  } else if (length === 0) {
    await using _lock = await lockUpload(services, id);
    upload = { ...upload, fileId: await finishUpload(services, upload) };
  }
  return c.body(null, 201, { Location: `/api/uploads/${id}`, ...uploadHeaders(upload) });
}

/**
 * `HEAD`: where the upload is. Like tusd, it first waits (briefly) for a
 * request still writing the upload, so that a client resuming after a
 * dropped connection learns the offset that request ends at rather than
 * the one before it. A complete upload whose finishing was interrupted
 * finishes here.
 */
async function describeUpload(c: Context<AppEnv>, services: Services): Promise<Response> {
  const id = c.req.param("id")!;
  const user = c.get("user");
  ownUpload(await services.uploads.get(id), user.id);
  await using lock = await services.uploadLocks.acquire(id, LOCK_WAIT_MS);
  let upload = ownUpload(await services.uploads.get(id), user.id);
  if (lock && upload.offset === upload.length && !upload.fileId) {
    upload = { ...upload, fileId: await finishUpload(services, upload) };
  }
  const headers: Record<string, string> = {
    ...uploadHeaders(upload),
    "Upload-Length": String(upload.length),
    "Cache-Control": "no-store",
  };
  if (upload.metadata) headers["Upload-Metadata"] = upload.metadata;
  return c.body(null, 200, headers);
}

/** `PATCH`: append at `Upload-Offset`. */
function patchUpload(c: Context<AppEnv>, services: Services): Promise<Response> {
  return closingOnRefusal(async () => {
    if (!isOffsetOctetStream(c.req.header("Content-Type") ?? null)) {
      throw new CofferError(
        "UNSUPPORTED_MEDIA_TYPE",
        "PATCH bodies are application/offset+octet-stream",
      );
    }
    const offset = byteCount("Upload-Offset", c.req.header("Upload-Offset") ?? null);
    const upload = await writeBody(c, services, c.req.param("id")!, offset);
    return c.body(null, 204, uploadHeaders(upload));
  });
}

/** `DELETE`: termination. A complete upload's file stays; only the upload is forgotten. */
async function terminateUpload(c: Context<AppEnv>, services: Services): Promise<Response> {
  const id = c.req.param("id")!;
  const user = c.get("user");
  const found = await services.uploads.get(id);
  if (!found || found.owner !== user.id) throw new CofferError("UPLOAD_NOT_FOUND");
  await using _lock = await lockUpload(services, id);
  const upload = await services.uploads.get(id);
  if (upload) await freeUpload(services, upload);
  services.log.info("tus.terminated", { upload_id: id });
  return c.body(null, 204);
}

/** The tus route group (mounted behind the auth middleware). */
export function tusRoutes(services: Services) {
  const options = (c: Context<AppEnv>) =>
    c.body(null, 204, {
      "Tus-Version": TUS_VERSION,
      "Tus-Extension": TUS_EXTENSIONS.join(","),
      "Tus-Max-Size": String(services.config.maxFileBytes),
      "Tus-Checksum-Algorithm": CHECKSUM_ALGORITHMS.join(","),
    });
  const router = createRouter();
  for (const operation of TUS_OPERATIONS) router.openAPIRegistry.registerPath(operation);
  router.use("/api/uploads", tusProtocol);
  router.use("/api/uploads/*", tusProtocol);
  router.options("/api/uploads", options);
  router.options("/api/uploads/:id", options);
  router.post("/api/uploads", (c) => closingOnRefusal(() => createUpload(c, services)));
  // Hono answers HEAD with its GET route (and drops the body): GET reads like HEAD.
  router.get("/api/uploads/:id", (c) => describeUpload(c, services));
  router.patch("/api/uploads/:id", (c) => patchUpload(c, services));
  router.delete("/api/uploads/:id", (c) => terminateUpload(c, services));
  return router;
}
