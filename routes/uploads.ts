/**
 * Accepting uploads: the request body streams into the staging area (never
 * into memory), the bytes are reserved against the owner's quota, the file's
 * data key is generated and wrapped, the record is saved as `queued` and one
 * job per file is queued. Both `POST /api/files` forms live here — multipart
 * (field `file`, one or more files) and a raw body with `?name=` — and the
 * compatible `POST /upload` reuses them, and so do file requests
 * (routes/public_requests.ts), through {@linkcode acceptUploads}' options.
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
import type { UploadSlot } from "../storage/upload_slots.ts";
import { enqueueUpload } from "../workers/queue.ts";
import type { AppEnv, AuthUser } from "./env.ts";
import { sanitizeContentType, sanitizeFileName } from "./file_name.ts";
import { cutWhenIdle } from "./idle_body.ts";
import { forEachFilePart } from "./multipart.ts";
import { bearerSecurity, createRouter, problem } from "./openapi.ts";
import { FileRecordSchema } from "./schemas.ts";

/** Whose space an upload goes into: the signed-in user, or a file request's owner. */
type Uploader = Pick<AuthUser, "id">;

/** Options of {@linkcode acceptUploads}, for uploads that are not the caller's own. */
export interface UploadOptions {
  /** The account the files go to (default: the signed-in user). */
  owner?: Uploader;
  /** A per-file limit below `COFFER_MAX_FILE_BYTES` (a file request's `max_bytes`). */
  maxFileBytes?: number;
  /** Called before each file is staged; throws to refuse it (and the whole request). */
  beforeFile?: () => Promise<void>;
  /** Extra fields of every record created (`via_request`). */
  record?: Partial<FileRecord>;
}

/** Most files accepted in one multipart request. */
export const MAX_FILES_PER_REQUEST = 20;

/** A body staged in full under its file id, ready to become a record and a job. */
export interface StagedFile {
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

/** How far ahead a multipart part reserves quota as its bytes arrive. */
const RESERVE_AHEAD_BYTES = 1024 * 1024;

/**
 * Passes a part's bytes on only once the slot has reserved quota for them,
 * so staged bytes never exceed the quota even for parts of unknown size.
 */
function reservingAsBytesArrive(
  slot: UploadSlot,
  onRefused: () => CofferError,
): TransformStream<Uint8Array, Uint8Array> & { covered: () => number } {
  let covered = 0;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      if (await slot.cover(chunk.length, RESERVE_AHEAD_BYTES)) throw onRefused();
      covered += chunk.length;
      controller.enqueue(chunk);
    },
  });
  return Object.assign(stream, { covered: () => covered });
}

/** Refuses a new file when the owner already keeps `maxFiles` (checked again atomically on save). */
async function checkFileCount(services: Services, user: Uploader, staged: number): Promise<void> {
  const { maxFiles } = services.config;
  if (await services.files.count(user.id) + staged >= maxFiles) {
    throw new CofferError("FILE_LIMIT_REACHED", `You can keep at most ${maxFiles} files`);
  }
}

/**
 * Streams one body into staging within the size and quota limits. A body
 * of declared length reserves it all before a byte is read (and is refused
 * if it does not fit); a multipart part reserves as its bytes arrive. Once
 * staged, the file's bytes count as used.
 */
async function stageFile(
  services: Services,
  user: Uploader,
  slot: UploadSlot,
  file: IncomingFile,
): Promise<StagedFile> {
  const { config, staging, users } = services;
  const account = await users.findById(user.id);
  if (!account) throw new CofferError("UNAUTHORIZED");
  const overQuota = () => quotaExceeded(account.quota_bytes);
  let body = file.body;
  let reserving: ReturnType<typeof reservingAsBytesArrive> | undefined;
  if (file.length !== undefined) {
    if (await slot.cover(file.length)) throw overQuota();
  } else {
    reserving = reservingAsBytesArrive(slot, overQuota);
    body = body.pipeThrough(reserving);
  }
  const id = newId();
  let size: number;
  try {
    size = await staging.stageUpload(id, body, { maxBytes: file.length ?? config.maxFileBytes });
  } catch (error) {
    slot.uncover(file.length ?? reserving?.covered() ?? 0);
    throw error;
  }
  if (!await slot.commit(size)) {
    await staging.remove(id);
    throw overQuota();
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

/**
 * Creates the record and queues the job for a staged file: the one way an
 * upload becomes a file, for `POST /api/files`, file requests and a completed
 * tus upload (routes/tus.ts). The staged bytes must already count as used.
 *
 * @throws {CofferError} `FILE_LIMIT_REACHED` when the owner keeps `maxFiles` files.
 */
export async function queueStagedFile(
  services: Services,
  user: Uploader,
  staged: StagedFile,
  extra: Partial<FileRecord> = {},
): Promise<FileRecord> {
  const record: FileRecord = {
    id: staged.id,
    owner: user.id,
    name: staged.name,
    size: staged.size,
    content_type: staged.contentType,
    status: "queued",
    created_at: new Date().toISOString(),
    ...extra,
    ...await newWrappedDataKey(services.keyRing, user.id, staged.id),
  };
  if (!await services.files.create(record, { maxFiles: services.config.maxFiles })) {
    throw new CofferError(
      "FILE_LIMIT_REACHED",
      `You can keep at most ${services.config.maxFiles} files`,
    );
  }
  await enqueueUpload(services.queue, { fileId: record.id, ownerId: user.id });
  services.log.info("upload.accepted", { file_id: record.id, bytes: record.size });
  services.metrics.uploadsAccepted.inc();
  return record;
}

async function discardStaged(services: Services, user: Uploader, staged: StagedFile[]) {
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
  user: Uploader,
  slot: UploadSlot,
  stageEach: (stage: (file: IncomingFile) => Promise<void>) => Promise<void>,
  options: UploadOptions,
): Promise<FileRecord[]> {
  const staged: StagedFile[] = [];
  const queued: StagedFile[] = [];
  try {
    await stageEach(async (file) => {
      await checkFileCount(services, user, staged.length);
      await options.beforeFile?.();
      staged.push(await stageFile(services, user, slot, file));
    });
    if (staged.length === 0) throw new CofferError("BAD_REQUEST", 'No file in field "file"');
    const records: FileRecord[] = [];
    for (const file of staged) {
      records.push(await queueStagedFile(services, user, file, options.record ?? {}));
      queued.push(file);
    }
    return records;
  } catch (error) {
    await discardStaged(services, user, staged.filter((file) => !queued.includes(file)));
    throw error;
  }
}

/**
 * Accepts an upload request in either form and answers 202 with the record
 * (or `{files: [...]}` when a multipart request carried several files).
 */
export async function acceptUploadRequest(
  c: Context<AppEnv>,
  services: Services,
): Promise<Response> {
  const records = await acceptUploads(c, services);
  const response = records.length === 1
    ? publicRecord(records[0])
    : { files: records.map(publicRecord) };
  return c.json(response, 202, { Location: `/api/files/${records[0].id}` });
}

/**
 * Accepts the files of an upload request in either form: all of them are
 * staged and queued, or none.
 *
 * @returns The queued records.
 */
export async function acceptUploads(
  c: Context<AppEnv>,
  services: Services,
  options: UploadOptions = {},
): Promise<FileRecord[]> {
  try {
    return await acceptFiles(c, limitedTo(services, options.maxFileBytes), options);
  } catch (error) {
    // A refusal may come before the body is read: end the connection after
    // the answer rather than keep a client sending what nobody reads.
    if (error instanceof CofferError) error.headers.Connection = "close";
    throw error;
  }
}

/** A lower per-file limit is the same upload path under a smaller COFFER_MAX_FILE_BYTES. */
function limitedTo(services: Services, maxFileBytes: number | undefined): Services {
  if (maxFileBytes === undefined || maxFileBytes >= services.config.maxFileBytes) return services;
  return { ...services, config: { ...services.config, maxFileBytes } };
}

async function acceptFiles(
  c: Context<AppEnv>,
  services: Services,
  options: UploadOptions,
): Promise<FileRecord[]> {
  const { config, uploadSlots } = services;
  const user = options.owner ?? c.get("user");
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
  if (declared > config.maxFileBytes + 64 * 1024) {
    throw new CofferError("PAYLOAD_TOO_LARGE");
  }
  if (!request.body) throw new CofferError("BAD_REQUEST", "The request has no body");
  await using slot = await uploadSlots.acquire(user.id);
  if (!slot) {
    throw new CofferError(
      "TOO_MANY_UPLOADS",
      `You have ${config.maxConcurrentUploads} uploads in progress; wait for one to finish`,
      { headers: { "Retry-After": "5" } },
    );
  }
  const body = cutWhenIdle(request.body, config.bodyIdleSeconds * 1000);
  return type.toLowerCase().startsWith("multipart/form-data")
    ? await acceptAll(services, user, slot, async (stage) => {
      // The whole body bounds its parts: reserve what of it is free now, so
      // that of several racing requests one gets the room and finishes.
      await slot.reserve(0, declared);
      await forEachFilePart(type, body, { maxFiles: MAX_FILES_PER_REQUEST }, async (part) => {
        if (part.field !== "file" && part.field !== "files") {
          await part.body.cancel();
          return;
        }
        await stage({ name: part.filename, contentType: part.contentType, body: part.body });
      });
    }, options)
    : await acceptAll(services, user, slot, async (stage) => {
      if (declared > config.maxFileBytes) throw new CofferError("PAYLOAD_TOO_LARGE");
      await stage({
        name: c.req.query("name"),
        contentType: c.req.query("type") ?? rawBodyType(type),
        body,
        length: declared,
      });
    }, options);
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
