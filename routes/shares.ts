/**
 * The owner's side of share links: make a link to a stored file (expiry,
 * download limit, optional password), list and read one's links, read a
 * link's access log, and revoke a link (it stops at once). Every route sits
 * behind the auth middleware; another owner's link and an unknown id give
 * the same 404. The public side is routes/public_shares.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { CofferError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { FileStore } from "../storage/file_store.ts";
import { newId } from "../storage/ids.ts";
import { linkLogId } from "../storage/link_log_id.ts";
import {
  downloadsLeft,
  type ShareRecord,
  shareState,
  type ShareStore,
} from "../storage/share_store.ts";
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
import { storedFile } from "./owned_file.ts";
import { FileIdParam, PageQuery } from "./schemas.ts";

/** Largest `max_downloads`. */
export const MAX_DOWNLOADS_LIMIT = 1_000_000;

/** A share link as its owner sees it. */
export const ShareSchema = z.object({
  id: z.string(),
  url: z.string().openapi({ example: "/s/q3V6bR0cS2m8Q2dJk1c9aA" }),
  file_id: z.string(),
  created_at: z.string().openapi({ format: "date-time" }),
  expires_at: z.string().openapi({ format: "date-time" }),
  max_downloads: z.number().int().nullable(),
  downloads: z.number().int(),
  bytes_served: z.number().int(),
  has_password: z.boolean(),
  state: z.enum(["active", "expired", "used_up"]),
  downloads_left: z.number().int().nullable(),
}).openapi("Share");

const ShareListSchema = z.object({
  shares: z.array(ShareSchema),
  next_cursor: z.string().nullable(),
}).openapi("ShareList");

const AccessListSchema = z.object({
  accesses: z.array(z.object({
    at: z.string().openapi({ format: "date-time" }),
    address: z.string(),
    bytes: z.number().int(),
    completed: z.boolean(),
  })),
}).openapi("ShareAccesses");

/** The share as the API shows it: no owner, no password hash. */
export function publicShare(share: ShareRecord) {
  return {
    id: share.id,
    url: `/s/${share.id}`,
    file_id: share.file_id,
    created_at: share.created_at,
    expires_at: share.expires_at,
    max_downloads: share.max_downloads,
    downloads: share.downloads,
    bytes_served: share.bytes_served,
    has_password: share.password_hash !== undefined,
    state: shareState(share),
    downloads_left: downloadsLeft(share),
  };
}

const notFound = problem("No such link of yours");

function createRoutes(maxTtlSeconds: number) {
  const CreateShareSchema = z.object({
    expires_in: expiresInSchema(maxTtlSeconds),
    max_downloads: z.number().int().min(1).max(MAX_DOWNLOADS_LIMIT).nullable().optional()
      .openapi({ description: "Full downloads allowed (default: no limit until expiry)" }),
    password: LinkPasswordSchema.optional(),
  }).strict().openapi("CreateShare");
  return {
    create: createRoute({
      method: "post",
      path: "/api/files/{id}/shares",
      summary: "Make a share link to a stored file",
      security: bearerSecurity,
      middleware: [limitLinkBody] as const,
      request: {
        params: FileIdParam,
        body: {
          required: false,
          content: { "application/json": { schema: CreateShareSchema } },
        },
      },
      responses: {
        201: { description: "Created", content: { "application/json": { schema: ShareSchema } } },
        400: problem("Invalid expiry, limit or password"),
        404: problem("No such file of yours"),
        409: problem("The file is not stored yet"),
        413: problem("Request body too large"),
      },
    }),
    list: createRoute({
      method: "get",
      path: "/api/shares",
      summary: "List your share links, newest first",
      security: bearerSecurity,
      request: {
        query: PageQuery.extend({
          file_id: z.string().max(64).optional().openapi({
            description: "Only this file's links (all of them, in one page)",
          }),
        }),
      },
      responses: {
        200: {
          description: "A page",
          content: { "application/json": { schema: ShareListSchema } },
        },
        400: problem("Invalid limit or cursor"),
      },
    }),
    get: createRoute({
      method: "get",
      path: "/api/shares/{id}",
      summary: "One share link",
      security: bearerSecurity,
      request: { params: LinkIdParam },
      responses: {
        200: { description: "The link", content: { "application/json": { schema: ShareSchema } } },
        404: notFound,
      },
    }),
    accesses: createRoute({
      method: "get",
      path: "/api/shares/{id}/accesses",
      summary: "A share link's downloads, newest first",
      security: bearerSecurity,
      request: { params: LinkIdParam },
      responses: {
        200: {
          description: "The access log",
          content: { "application/json": { schema: AccessListSchema } },
        },
        404: notFound,
      },
    }),
    revoke: createRoute({
      method: "delete",
      path: "/api/shares/{id}",
      summary: "Revoke a share link (it stops at once)",
      security: bearerSecurity,
      request: { params: LinkIdParam },
      responses: { 204: { description: "Revoked" }, 404: notFound },
    }),
  };
}

/** What the owner's share routes use. */
export interface ShareRouteDeps {
  files: FileStore;
  shares: ShareStore;
  log: Logger;
  metrics: Metrics;
  maxTtlSeconds: number;
}

/** The owner's share routes (mounted behind the auth middleware). */
export function shareRoutes({ files, shares, log, metrics, maxTtlSeconds }: ShareRouteDeps) {
  const routes = createRoutes(maxTtlSeconds);
  const router = createRouter();
  const owned = async (owner: string, id: string) => {
    const share = isLinkId(id) ? await shares.getOwned(owner, id) : undefined;
    if (!share) throw new CofferError("LINK_NOT_FOUND");
    return share;
  };

  router.openapi(routes.create, async (c) => {
    const owner = c.get("user").id;
    const file = await storedFile(files, owner, c.req.valid("param").id);
    const body = c.req.valid("json") ?? {};
    const created_at = new Date().toISOString();
    const share: ShareRecord = {
      id: newId(),
      owner,
      file_id: file.id,
      created_at,
      expires_at: expiryFrom(body.expires_in, Date.parse(created_at)),
      max_downloads: body.max_downloads ?? null,
      downloads: 0,
      bytes_served: 0,
      size: file.size,
      password_hash: await linkPasswordHash(body.password),
    };
    await shares.create(share);
    metrics.sharesCreated.inc();
    log.info("share.created", {
      share: linkLogId(share.id),
      file_id: file.id,
      max_downloads: share.max_downloads,
      password: share.password_hash !== undefined,
    });
    c.header("Cache-Control", "no-store");
    return c.json(publicShare(share), 201, { Location: `/api/shares/${share.id}` });
  });

  router.openapi(routes.list, async (c) => {
    const { limit, cursor, file_id } = c.req.valid("query");
    const owner = c.get("user").id;
    const page = file_id === undefined
      ? await shares.list(owner, limit, cursor)
      : { shares: await shares.listForFile(owner, file_id), next_cursor: null };
    c.header("Cache-Control", "no-store");
    return c.json({ shares: page.shares.map(publicShare), next_cursor: page.next_cursor }, 200);
  });

  router.openapi(routes.get, async (c) => {
    const share = await owned(c.get("user").id, c.req.valid("param").id);
    c.header("Cache-Control", "no-store");
    return c.json(publicShare(share), 200);
  });

  router.openapi(routes.accesses, async (c) => {
    const share = await owned(c.get("user").id, c.req.valid("param").id);
    c.header("Cache-Control", "no-store");
    return c.json({ accesses: await shares.accesses(share.id) }, 200);
  });

  router.openapi(routes.revoke, async (c) => {
    const share = await owned(c.get("user").id, c.req.valid("param").id);
    await shares.revoke(share);
    log.info("share.revoked", { share: linkLogId(share.id), file_id: share.file_id });
    return c.body(null, 204);
  });
  return router;
}
