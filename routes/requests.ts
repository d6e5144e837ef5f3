/**
 * The owner's side of file requests (upload links for people without an
 * account): create one (title, expiry, file count, per-file size, optional
 * password), list, read and revoke them. Files received stay the owner's
 * after a revoke. Every route sits behind the auth middleware; another
 * owner's request and an unknown id give the same 404. The public side is
 * routes/public_requests.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { CofferError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { newId } from "../storage/ids.ts";
import { linkLogId } from "../storage/link_log_id.ts";
import {
  filesLeft,
  type RequestRecord,
  requestState,
  type RequestStore,
} from "../storage/request_store.ts";
import {
  expiresInSchema,
  expiryFrom,
  isLinkId,
  limitLinkBody,
  LinkIdParam,
  linkPasswordHash,
  LinkPasswordSchema,
} from "./links.ts";
import { bearerSecurity, createRouter, problem } from "./openapi.ts";
import { PageQuery } from "./schemas.ts";

/** Largest `max_files`. */
export const MAX_FILES_LIMIT = 10_000;
/** Longest title, in characters. */
export const MAX_TITLE_CHARS = 200;

const FileRequestSchema = z.object({
  id: z.string(),
  url: z.string().openapi({ example: "/r/q3V6bR0cS2m8Q2dJk1c9aA" }),
  title: z.string(),
  created_at: z.string().openapi({ format: "date-time" }),
  expires_at: z.string().openapi({ format: "date-time" }),
  max_files: z.number().int().nullable(),
  max_bytes: z.number().int(),
  files_received: z.number().int(),
  files_left: z.number().int().nullable(),
  has_password: z.boolean(),
  state: z.enum(["active", "expired", "full"]),
}).openapi("FileRequest");

/** The request as its owner sees it. */
function publicRequest(request: RequestRecord) {
  return {
    id: request.id,
    url: `/r/${request.id}`,
    title: request.title,
    created_at: request.created_at,
    expires_at: request.expires_at,
    max_files: request.max_files,
    max_bytes: request.max_bytes,
    files_received: request.files_received,
    files_left: filesLeft(request),
    has_password: request.password_hash !== undefined,
    state: requestState(request),
  };
}

const notFound = problem("No such request of yours");

function createRoutes(maxTtlSeconds: number, maxFileBytes: number) {
  const CreateSchema = z.object({
    title: z.string().trim().min(1).max(MAX_TITLE_CHARS)
      .refine((title) => !/\p{Cc}/u.test(title), "Title must not contain control characters"),
    expires_in: expiresInSchema(maxTtlSeconds),
    max_files: z.number().int().min(1).max(MAX_FILES_LIMIT).nullable().optional(),
    max_bytes: z.number().int().min(1).max(maxFileBytes).optional()
      .openapi({ description: "Largest file accepted (default COFFER_MAX_FILE_BYTES)" }),
    password: LinkPasswordSchema.optional(),
  }).strict().openapi("CreateFileRequest");
  return {
    create: createRoute({
      method: "post",
      path: "/api/requests",
      summary: "Make a file request: a link through which others upload to you",
      security: bearerSecurity,
      middleware: [limitLinkBody] as const,
      request: {
        body: { required: true, content: { "application/json": { schema: CreateSchema } } },
      },
      responses: {
        201: {
          description: "Created",
          content: { "application/json": { schema: FileRequestSchema } },
        },
        400: problem("Invalid title, expiry, limits or password"),
        413: problem("Request body too large"),
      },
    }),
    list: createRoute({
      method: "get",
      path: "/api/requests",
      summary: "List your file requests, newest first",
      security: bearerSecurity,
      request: {
        query: PageQuery,
      },
      responses: {
        200: {
          description: "A page",
          content: {
            "application/json": {
              schema: z.object({
                requests: z.array(FileRequestSchema),
                next_cursor: z.string().nullable(),
              }).openapi("FileRequestList"),
            },
          },
        },
        400: problem("Invalid limit or cursor"),
      },
    }),
    get: createRoute({
      method: "get",
      path: "/api/requests/{id}",
      summary: "One file request",
      security: bearerSecurity,
      request: { params: LinkIdParam },
      responses: {
        200: {
          description: "The request",
          content: { "application/json": { schema: FileRequestSchema } },
        },
        404: notFound,
      },
    }),
    revoke: createRoute({
      method: "delete",
      path: "/api/requests/{id}",
      summary: "Revoke a file request (files received stay yours)",
      security: bearerSecurity,
      request: { params: LinkIdParam },
      responses: { 204: { description: "Revoked" }, 404: notFound },
    }),
  };
}

/** What the owner's request routes use. */
export interface RequestRouteDeps {
  requests: RequestStore;
  log: Logger;
  maxTtlSeconds: number;
  maxFileBytes: number;
}

/** The owner's file-request routes (mounted behind the auth middleware). */
export function requestRoutes({ requests, log, maxTtlSeconds, maxFileBytes }: RequestRouteDeps) {
  const routes = createRoutes(maxTtlSeconds, maxFileBytes);
  const router = createRouter();
  const owned = async (owner: string, id: string) => {
    const request = isLinkId(id) ? await requests.getOwned(owner, id) : undefined;
    if (!request) throw new CofferError("LINK_NOT_FOUND");
    return request;
  };

  router.openapi(routes.create, async (c) => {
    const body = c.req.valid("json");
    const created_at = new Date().toISOString();
    const request: RequestRecord = {
      id: newId(),
      owner: c.get("user").id,
      title: body.title,
      created_at,
      expires_at: expiryFrom(body.expires_in, Date.parse(created_at)),
      max_files: body.max_files ?? null,
      max_bytes: body.max_bytes ?? maxFileBytes,
      files_received: 0,
      password_hash: await linkPasswordHash(body.password),
    };
    await requests.create(request);
    log.info("request.created", { request: linkLogId(request.id), max_files: request.max_files });
    c.header("Cache-Control", "no-store");
    return c.json(publicRequest(request), 201, { Location: `/api/requests/${request.id}` });
  });

  router.openapi(routes.list, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await requests.list(c.get("user").id, limit, cursor);
    c.header("Cache-Control", "no-store");
    return c.json(
      { requests: page.requests.map(publicRequest), next_cursor: page.next_cursor },
      200,
    );
  });

  router.openapi(routes.get, async (c) => {
    const request = await owned(c.get("user").id, c.req.valid("param").id);
    c.header("Cache-Control", "no-store");
    return c.json(publicRequest(request), 200);
  });

  router.openapi(routes.revoke, async (c) => {
    const request = await owned(c.get("user").id, c.req.valid("param").id);
    await requests.revoke(request);
    log.info("request.revoked", { request: linkLogId(request.id) });
    return c.body(null, 204);
  });
  return router;
}
