/**
 * Accepting uploads: the request body streams into the staging area (never
 * into memory), the bytes are reserved against the owner's quota, the file's
 * data key is generated and wrapped, the record is saved as `queued` and one
 * job per file is queued. Both `POST /api/files` forms live here — multipart
 * (field `file`, one or more files) and a raw body with `?name=` — and the
 * compatible `POST /upload` reuses them.
 *
 * Uploads must declare their length. Deno 2.9's server reads a chunked
 * request body (no Content-Length) about ten times slower than a sized one,
 * with memory that grows with the body (BENCHMARKS.md, "Finding: chunked
 * uploads"), so one client could slow the server and swell its memory; like
 * S3's PutObject, a body without a length is refused with 411.
 */
import type { Context } from "hono";
import { createRoute, z } from "@hono/zod-openapi";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { type FileRecord, publicRecord } from "../storage/file_store.ts";
import { newId } from "../storage/ids.ts";
import { newWrappedDataKey } from "../storage/data_keys.ts";
import { enqueueUpload } from "../workers/queue.ts";
import type { AppEnv, AuthUser } from "./env.ts";
import { sanitizeContentType, sanitizeFileName } from "./file_name.ts";
import { forEachFilePart } from "./multipart.ts";
import { bearerSecurity, createRouter, problem } from "./openapi.ts";
import { FileRecordSchema } from "./schemas.ts";

/** Most files accepted in one multipart request. */
export const MAX_FILES_PER_REQUEST = 20;

interface StagedFile {
  id: string;
  name: string;
  contentType: string;
  size: number;
}

/** One file of a request, as the client described it. */
interface IncomingFile {
  name?: string;
  contentType?: string;
  body: ReadableStream<Uint8Array>;
  /** The exact size when known up front (a raw body's Content-Length). */
  length?: number;
}

function quotaExceeded(quotaBytes: number): CofferError {
  return new CofferError(
    "QUOTA_EXCEEDED",
    `This upload would exceed your ${quotaBytes}-byte quota`,
  );
}

/**
 * Streams one body into staging within the size and quota limits; reserves
 * its bytes. A body whose declared length is already over the quota is
 * refused before a byte of it is read.
 */
async function stageFile(
  services: Services,
  user: AuthUser,
  file: IncomingFile,
): Promise<StagedFile> {
  const { config, staging, users } = services;
  const account = await users.findById(user.id);
  if (!account) throw new CofferError("UNAUTHORIZED");
  const quotaLeft = Math.max(0, account.quota_bytes - account.used_bytes);
  const limit = Math.min(config.maxFileBytes, quotaLeft);
  if (file.length !== undefined && file.length > limit && limit < config.maxFileBytes) {
    throw quotaExceeded(account.quota_bytes);
  }
  const id = newId();
  let size: number;
  try {
    size = await staging.stageUpload(id, file.body, { maxBytes: limit });
  } catch (error) {
    if (
      error instanceof CofferError && error.code === "PAYLOAD_TOO_LARGE" &&
      limit < config.maxFileBytes
    ) {
      throw quotaExceeded(account.quota_bytes);
    }
    throw error;
  }
  if (!await users.reserveBytes(user.id, size, account.quota_bytes)) {
    await staging.remove(id);
    throw quotaExceeded(account.quota_bytes);
  }
  return {
    id,
    name: sanitizeFileName(file.name),
    contentType: sanitizeContentType(file.contentType),
    size,
  };
}

/**
 * The content type of a raw-body upload, from its Content-Type header.
 * `application/x-www-form-urlencoded` is what `curl --data-binary @FILE` sends
 * when told nothing else, never a description of the file, so it is not kept.
 */
function rawBodyType(header: string): string | undefined {
  const essence = header.split(";")[0].trim().toLowerCase();
  return essence === "application/x-www-form-urlencoded" ? undefined : header;
}

/** Creates the record and queues the job for a staged file. */
async function queueStagedFile(services: Services, user: AuthUser, staged: StagedFile) {
  const record: FileRecord = {
    id: staged.id,
    owner: user.id,
    name: staged.name,
    size: staged.size,
    content_type: staged.contentType,
    status: "queued",
    created_at: new Date().toISOString(),
    ...await newWrappedDataKey(services.keyRing, user.id, staged.id),
  };
  await services.files.create(record);
  await enqueueUpload(services.queue, { fileId: record.id, ownerId: user.id });
  services.log.info("upload.accepted", { file_id: record.id, bytes: record.size });
  services.metrics.uploadsAccepted.inc();
  return record;
}

async function discardStaged(services: Services, user: AuthUser, staged: StagedFile[]) {
  for (const file of staged) {
    await services.staging.remove(file.id);
    await services.users.adjustUsedBytes(user.id, -file.size);
  }
}

/**
 * Stages every file of a request, then queues them all; if any file fails,
 * none is kept.
 */
async function acceptAll(
  services: Services,
  user: AuthUser,
  stageEach: (stage: (file: IncomingFile) => Promise<void>) => Promise<void>,
): Promise<FileRecord[]> {
  const staged: StagedFile[] = [];
  try {
    await stageEach(async (file) => {
      staged.push(await stageFile(services, user, file));
    });
    if (staged.length === 0) throw new CofferError("BAD_REQUEST", 'No file in field "file"');
  } catch (error) {
    await discardStaged(services, user, staged);
    throw error;
  }
  return await Promise.all(staged.map((file) => queueStagedFile(services, user, file)));
}

/**
 * Accepts an upload request in either form and answers 202 with the record
 * (or `{files: [...]}` when a multipart request carried several files).
 */
export async function acceptUploadRequest(
  c: Context<AppEnv>,
  services: Services,
): Promise<Response> {
  const user = c.get("user");
  const request = c.req.raw;
  const type = request.headers.get("content-type") ?? "";
  const length = request.headers.get("content-length");
  if (length === null) {
    throw new CofferError(
      "LENGTH_REQUIRED",
      "Send the body with a Content-Length header (as browsers, curl -X POST -T FILE and the CLI do)",
    );
  }
  const declared = Number(length);
  if (declared > services.config.maxFileBytes + 64 * 1024) {
    throw new CofferError("PAYLOAD_TOO_LARGE");
  }
  const records = type.toLowerCase().startsWith("multipart/form-data")
    ? await acceptAll(
      services,
      user,
      (stage) =>
        forEachFilePart(request, { maxFiles: MAX_FILES_PER_REQUEST }, async (part) => {
          if (part.field !== "file" && part.field !== "files") {
            await part.body.cancel();
            return;
          }
          await stage({ name: part.filename, contentType: part.contentType, body: part.body });
        }),
    )
    : await acceptAll(services, user, async (stage) => {
      if (declared > services.config.maxFileBytes) throw new CofferError("PAYLOAD_TOO_LARGE");
      if (!request.body) throw new CofferError("BAD_REQUEST", "The request has no body");
      await stage({
        name: c.req.query("name"),
        contentType: c.req.query("type") ?? rawBodyType(type),
        body: request.body,
        length: declared,
      });
    });
  const body = records.length === 1
    ? publicRecord(records[0])
    : { files: records.map(publicRecord) };
  return c.json(body, 202, { Location: `/api/files/${records[0].id}` });
}

const uploadRoute = createRoute({
  method: "post",
  path: "/api/files",
  summary: "Upload a file (multipart field `file`, or a raw body with ?name=)",
  security: bearerSecurity,
  request: {
    query: z.object({
      name: z.string().optional().openapi({ description: "Display name for a raw-body upload" }),
      type: z.string().optional().openapi({ description: "Content type for a raw-body upload" }),
    }),
    body: {
      content: {
        "multipart/form-data": {
          schema: z.object({ file: z.any().openapi({ type: "string", format: "binary" }) }),
        },
        "application/octet-stream": {
          schema: z.any().openapi({ type: "string", format: "binary" }),
        },
      },
    },
  },
  responses: {
    202: {
      description: "Accepted: the file is staged and queued for encryption",
      content: { "application/json": { schema: FileRecordSchema } },
    },
    400: problem("No file, or a malformed body"),
    401: problem("Missing or invalid token"),
    411: problem("The body has no Content-Length (a chunked body)"),
    413: problem("File too large or quota exceeded"),
  },
});

/**
 * The upload route group (mounted behind the auth middleware). The route is
 * registered for the OpenAPI document only: `router.openapi()` would attach
 * a form validator that buffers the whole body, so the handler is a plain
 * `post` that streams.
 */
export function uploadRoutes(services: Services) {
  const router = createRouter();
  router.openAPIRegistry.registerPath(uploadRoute);
  router.post("/api/files", (c) => acceptUploadRequest(c, services));
  return router;
}
