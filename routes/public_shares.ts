/**
 * The public side of share links, for people without an account:
 * `GET /s/:id` (the page), `/s/:id/info`, `POST /s/:id/unlock` and
 * `GET|HEAD /s/:id/content` (decrypted and streamed by the owner's download
 * code, routes/downloads.ts, Range supported).
 *
 * Only `content` GETs count, and only through the Redis scripts of
 * storage/share_store.ts: a download is admitted before its first byte (a
 * lease, renewed while it streams; a revoked link stops it at the next
 * renewal) and committed when it ends. The page, `info`, HEAD and `unlock`
 * never count, so a mail scanner that opens the link uses nothing up.
 *
 * Nothing here tells anything about the owner; a password-protected link
 * shows its file's name, size and type only with an unlock ticket. Unknown
 * or revoked links are 404, expired or used-up ones 410. Logs name a link by
 * a short hash, never its id.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { clientAddress } from "../auth/client_address.ts";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import type { FileRecord } from "../storage/file_store.ts";
import { linkLogId } from "../storage/link_log_id.ts";
import {
  downloadsLeft,
  type Refusal,
  type ShareRecord,
  shareState,
} from "../storage/share_store.ts";
import { type DownloadObserver, servePlaintext } from "./downloads.ts";
import type { AppEnv } from "./env.ts";
import {
  createUnlocker,
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
import { binaryResponse } from "./schemas.ts";
import { servedContentType } from "./file_headers.ts";

/** How long a download's admission holds without renewal (a dead process's lapses). */
export const DOWNLOAD_LEASE_MS = 30_000;
/** How often a streaming download renews its lease (and notices a revoked link). */
export const DOWNLOAD_RENEW_MS = 5_000;

const TicketQuery = z.object({
  t: z.string().max(128).optional().openapi({ description: "Unlock ticket (password links)" }),
});

const ShareInfoSchema = z.object({
  name: z.string().nullable().openapi({ description: "null until unlocked (password links)" }),
  size: z.number().int().nullable(),
  content_type: z.string().nullable(),
  expires_at: z.string().openapi({ format: "date-time" }),
  password_required: z.boolean(),
  downloads_left: z.number().int().nullable(),
}).openapi("ShareInfo");

const gone = problem("The link has expired or is used up");
const missing = problem("No such link (or it was revoked)");

const infoRoute = createRoute({
  method: "get",
  path: "/s/{id}/info",
  summary: "What a share link offers (never counts as a download)",
  request: { params: LinkIdParam, query: TicketQuery },
  responses: {
    200: { description: "The link", content: { "application/json": { schema: ShareInfoSchema } } },
    404: missing,
    410: gone,
  },
});

const unlockRoute = createRoute({
  method: "post",
  path: "/s/{id}/unlock",
  summary: "Trade a share link's password for a short-lived ticket",
  middleware: [limitLinkBody] as const,
  request: {
    params: LinkIdParam,
    body: { required: true, content: { "application/json": { schema: UnlockSchema } } },
  },
  responses: {
    200: { description: "A ticket", content: { "application/json": { schema: TicketSchema } } },
    400: problem("No password given, or the link has none"),
    401: problem("Wrong password"),
    404: missing,
    410: gone,
    413: problem("Request body too large"),
    429: problem("Too many wrong passwords; see Retry-After"),
  },
});

const contentRoute = createRoute({
  method: "get",
  path: "/s/{id}/content",
  summary: "Download a shared file, decrypted (Range supported)",
  request: { params: LinkIdParam, query: TicketQuery },
  responses: {
    200: binaryResponse("The plaintext, streamed"),
    206: binaryResponse("The requested byte range"),
    401: problem("The link has a password: unlock it and pass ?t=<ticket>"),
    404: missing,
    409: problem("Another download is using what is left of this link; see Retry-After"),
    410: gone,
    416: problem("Range not satisfiable"),
  },
});

function goneError(reason: "expired" | "used_up" | "too_long"): CofferError {
  const detail = {
    expired: "This link has expired",
    used_up: "This link has been used up",
    too_long: "This link has fewer bytes left than the range asks for",
  }[reason];
  return new CofferError("LINK_GONE", detail);
}

function refusalError(refusal: Refusal): CofferError {
  if (refusal === "missing") return new CofferError("LINK_NOT_FOUND");
  if (refusal === "busy") {
    return new CofferError("LINK_BUSY", "Another download is using what is left of this link", {
      headers: { "Retry-After": "10" },
    });
  }
  return goneError(refusal);
}

/** The public share routes; `options` sets the password limits and the client address. */
export function publicShareRoutes(services: Services, options: PublicLinkOptions = {}) {
  const { shares, files, log, metrics } = services;
  const unlock = createUnlocker(services, options);
  const addressOf = options.clientAddress ?? clientAddress;

  /** The link, if it exists and can still serve; else 404 or 410. */
  async function liveShare(id: string): Promise<ShareRecord> {
    const share = isLinkId(id) ? await shares.get(id) : undefined;
    if (!share) throw new CofferError("LINK_NOT_FOUND");
    const state = shareState(share);
    if (state !== "active") throw goneError(state);
    return share;
  }

  /** The shared file; a link whose file is gone (or was never the owner's) is no link. */
  async function sharedFile(share: ShareRecord): Promise<FileRecord> {
    const file = await files.getOwned(share.owner, share.file_id);
    if (!file || file.status !== "stored") throw new CofferError("LINK_NOT_FOUND");
    return file;
  }

  /** Admits one download in Redis and returns what counts its bytes and commits it. */
  async function admitDownload(
    share: ShareRecord,
    extent: { range?: unknown; bytes: number },
    address: string,
  ): Promise<DownloadObserver> {
    const full = extent.range === undefined;
    const lease = await shares.admit(share.id, full, extent.bytes, DOWNLOAD_LEASE_MS);
    if (typeof lease === "string") throw refusalError(lease);
    const at = new Date().toISOString();
    const stop = new AbortController();
    let sent = 0;
    const renewal = setInterval(async () => {
      const held = await shares.renew(lease, DOWNLOAD_LEASE_MS).catch(() => true);
      if (!held) stop.abort();
    }, DOWNLOAD_RENEW_MS);
    return {
      signal: stop.signal,
      onBytes: (n) => (sent += n),
      onEnd: () => {
        clearInterval(renewal);
        const completed = sent === extent.bytes;
        metrics.shareDownloads.inc({
          outcome: !full ? "range" : completed ? "completed" : "partial",
        });
        log.info("share.download", {
          share: linkLogId(share.id),
          bytes: sent,
          completed,
          range: !full,
          revoked: stop.signal.aborted,
        });
        shares.finish(lease, { at, address, bytes: sent, completed }).catch((error) =>
          log.error("share.count_failed", {
            share: linkLogId(share.id),
            error: error instanceof Error ? error.name : typeof error,
          })
        );
      },
    };
  }

  const router = createRouter();
  router.use("/s/*", linkHeaders);

  router.get("/s/:id", async (c) => {
    const id = c.req.param("id");
    const share = isLinkId(id) ? await shares.get(id) : undefined;
    const status = !share ? 404 : shareState(share) === "active" ? 200 : 410;
    return await staticPage("share.html", status);
  });

  router.openapi(infoRoute, async (c) => {
    const share = await liveShare(c.req.valid("param").id);
    const file = await sharedFile(share);
    const locked = share.password_hash !== undefined &&
      !await services.linkTickets.admits("share", share.id, c.req.valid("query").t);
    return c.json({
      name: locked ? null : file.name,
      size: locked ? null : file.size,
      content_type: locked ? null : servedContentType(file.content_type),
      expires_at: share.expires_at,
      password_required: share.password_hash !== undefined,
      downloads_left: downloadsLeft(share),
    }, 200);
  });

  router.openapi(unlockRoute, async (c) => {
    const share = await liveShare(c.req.valid("param").id);
    return c.json(await unlock(c, "share", share, c.req.valid("json").password), 200);
  });

  const content = async (c: Context<AppEnv>, id: string, ticket: string | undefined) => {
    const share = await liveShare(id);
    await requireTicket(services, "share", share, ticket);
    const file = await sharedFile(share);
    const address = addressOf(c);
    return await servePlaintext(c, services, file, {
      admit: (extent) => admitDownload(share, extent, address),
    });
  };
  router.openapi(contentRoute, async (c) => {
    return await content(c, c.req.valid("param").id, c.req.valid("query").t) as never;
  });
  return router;
}
