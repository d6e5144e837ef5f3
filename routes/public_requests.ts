/**
 * The public side of file requests, for people without an account:
 * `GET /r/:id` (the upload page), `/r/:id/info`, `POST /r/:id/unlock` and
 * `POST /r/:id/files` (multipart field `file`, or a raw body with `?name=`).
 *
 * Uploads go through the owner's own upload path (routes/uploads.ts:
 * staging, quota, record, job) into the owner's space, each record marked
 * `via_request`. Room for each file is claimed atomically in Redis before it
 * is staged (storage/request_store.ts) and given back if the upload fails.
 * The answer is `202 {received: [{name, size}]}` and nothing else: an
 * uploader learns no id, cannot list, cannot fetch. Errors say nothing about
 * the owner (not their quota, not their other files). Uploads are limited
 * per client address.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { clientAddress } from "../auth/client_address.ts";
import { RateLimiter } from "../auth/rate_limit.ts";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { linkLogId } from "../storage/link_log_id.ts";
import { filesLeft, type RequestRecord, requestState } from "../storage/request_store.ts";
import {
  createUnlocker,
  DEFAULT_LINK_LIMITS,
  isLinkId,
  limitLinkBody,
  linkHeaders,
  LinkIdParam,
  type PublicLinkOptions,
  requireTicket,
  TicketSchema,
  UnlockSchema,
} from "./links.ts";
import { createRouter, problem } from "./openapi.ts";
import { staticPage } from "./page.ts";
import { acceptUploads } from "./uploads.ts";

const RequestInfoSchema = z.object({
  title: z.string(),
  expires_at: z.string().openapi({ format: "date-time" }),
  files_left: z.number().int().nullable(),
  max_bytes: z.number().int().openapi({ description: "Largest file accepted" }),
  password_required: z.boolean(),
}).openapi("FileRequestInfo");

const ReceivedSchema = z.object({
  received: z.array(z.object({ name: z.string(), size: z.number().int() })),
}).openapi("FilesReceived");

const gone = problem("The request has expired or has all its files");
const missing = problem("No such request (or it was revoked)");

const infoRoute = createRoute({
  method: "get",
  path: "/r/{id}/info",
  summary: "What a file request takes",
  request: { params: LinkIdParam },
  responses: {
    200: {
      description: "The request",
      content: { "application/json": { schema: RequestInfoSchema } },
    },
    404: missing,
    410: gone,
  },
});

const unlockRoute = createRoute({
  method: "post",
  path: "/r/{id}/unlock",
  summary: "Trade a file request's password for a short-lived upload ticket",
  middleware: [limitLinkBody] as const,
  request: {
    params: LinkIdParam,
    body: { required: true, content: { "application/json": { schema: UnlockSchema } } },
  },
  responses: {
    200: { description: "A ticket", content: { "application/json": { schema: TicketSchema } } },
    401: problem("Wrong password"),
    404: missing,
    410: gone,
    429: problem("Too many wrong passwords; see Retry-After"),
  },
});

const uploadRoute = createRoute({
  method: "post",
  path: "/r/{id}/files",
  summary: "Upload files to a file request (multipart field `file`, or a raw body with ?name=)",
  request: {
    params: LinkIdParam,
    query: z.object({
      name: z.string().optional(),
      t: z.string().max(128).optional().openapi({ description: "Upload ticket" }),
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
    202: { description: "Received", content: { "application/json": { schema: ReceivedSchema } } },
    401: problem("The request has a password: unlock it and pass ?t=<ticket>"),
    404: missing,
    410: gone,
    411: problem("The body has no Content-Length"),
    413: problem("File over the request's max_bytes, or no room left in the owner's space"),
    429: problem("Too many uploads from this address; see Retry-After"),
  },
});

function goneError(reason: "expired" | "full"): CofferError {
  return new CofferError(
    "LINK_GONE",
    reason === "expired" ? "This request has expired" : "This request has all the files it takes",
  );
}

/**
 * The same error without a detail that could describe the owner (their
 * quota, their file count); the request's own limits are public.
 */
function forUploader(error: unknown, request: RequestRecord): unknown {
  if (!(error instanceof CofferError)) return error;
  if (error.code === "QUOTA_EXCEEDED") {
    return new CofferError("QUOTA_EXCEEDED", "There is no room left for this file");
  }
  if (error.code === "PAYLOAD_TOO_LARGE") {
    return new CofferError(
      "PAYLOAD_TOO_LARGE",
      `Files here are limited to ${request.max_bytes} bytes`,
    );
  }
  const ownDetail = ["BAD_REQUEST", "LENGTH_REQUIRED", "LINK_GONE", "LINK_NOT_FOUND"];
  return ownDetail.includes(error.code)
    ? error
    : new CofferError(error.code, undefined, { headers: error.headers });
}

/** The public file-request routes; `options` sets the limits and the client address. */
export function publicRequestRoutes(services: Services, options: PublicLinkOptions = {}) {
  const { requests, log, metrics } = services;
  const unlock = createUnlocker(services, options);
  const addressOf = options.clientAddress ?? clientAddress;
  const uploadsPerAddress = new RateLimiter(
    services.redis,
    "request-upload-addr",
    { ...DEFAULT_LINK_LIMITS, ...options.limits }.requestUploadsPerAddress,
  );

  async function liveRequest(id: string): Promise<RequestRecord> {
    const request = isLinkId(id) ? await requests.get(id) : undefined;
    if (!request) throw new CofferError("LINK_NOT_FOUND");
    const state = requestState(request);
    if (state !== "active") throw goneError(state);
    return request;
  }

  const router = createRouter();
  router.use("/r/*", linkHeaders);

  router.get("/r/:id", async (c) => {
    const id = c.req.param("id");
    const request = isLinkId(id) ? await requests.get(id) : undefined;
    const status = !request ? 404 : requestState(request) === "active" ? 200 : 410;
    return await staticPage("request.html", status);
  });

  router.openapi(infoRoute, async (c) => {
    const request = await liveRequest(c.req.valid("param").id);
    return c.json({
      title: request.title,
      expires_at: request.expires_at,
      files_left: filesLeft(request),
      max_bytes: request.max_bytes,
      password_required: request.password_hash !== undefined,
    }, 200);
  });

  router.openapi(unlockRoute, async (c) => {
    const request = await liveRequest(c.req.valid("param").id);
    return c.json(await unlock(c, "request", request, c.req.valid("json").password), 200);
  });

  // A plain post, as for /api/files: the OpenAPI validator would buffer the body.
  router.openAPIRegistry.registerPath(uploadRoute);
  router.post("/r/:id/files", async (c) => {
    await uploadsPerAddress.consume(addressOf(c));
    const request = await liveRequest(c.req.param("id"));
    await requireTicket(services, "request", request, c.req.query("t"));
    let claimed = 0;
    try {
      const records = await acceptUploads(c, services, {
        owner: { id: request.owner },
        maxFileBytes: request.max_bytes,
        record: { via_request: request.id },
        beforeFile: async () => {
          const claim = await requests.claimFile(request.id);
          if (claim === "missing") throw new CofferError("LINK_NOT_FOUND");
          if (claim !== "ok") throw goneError(claim);
          claimed++;
        },
      });
      metrics.requestUploads.inc(records.length);
      log.info("request.files_received", { request: linkLogId(request.id), files: records.length });
      return c.json({ received: records.map(({ name, size }) => ({ name, size })) }, 202);
    } catch (error) {
      await requests.releaseFiles(request.id, claimed);
      throw forUploader(error, request);
    }
  });
  return router;
}
