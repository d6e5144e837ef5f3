/**
 * Download tickets: `POST /api/files/:id/ticket` `{variant}` (signed in)
 * answers `{url, expires_in}`, and `GET /api/dl/:ticket` (no token: the URL
 * is the credential) serves that one file in that one variant through the
 * same streaming code and headers as the owner routes (routes/downloads.ts),
 * `Range` included. The page starts its downloads this way, so the browser's
 * own download manager writes the file to disk with its own progress and
 * nothing is held in page memory.
 *
 * The ticket must be *started* within its lifetime (`COFFER_TICKET_TTL`,
 * 60 s by default); a response that has started streams to the end. Paths
 * with a ticket in them are logged as the route pattern, never verbatim.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { TICKET_VARIANTS, TicketStore } from "../storage/ticket_store.ts";
import { serveCiphertext, servePlaintext } from "./downloads.ts";
import { bearerSecurity, createRouter, problem } from "./openapi.ts";
import { storedFile } from "./owned_file.ts";
import { binaryResponse, FileIdParam } from "./schemas.ts";

/** Where ticket URLs live. */
export const TICKET_PATH_PREFIX = "/api/dl/";

const TicketRequestSchema = z.object({
  variant: z.enum(TICKET_VARIANTS).openapi({
    description: "`content` (decrypted) or `ciphertext` (the stored .cbl)",
  }),
}).openapi("TicketRequest");

const TicketSchema = z.object({
  url: z.string().openapi({
    description: "Path of the download on this server",
    example: "/api/dl/…",
  }),
  expires_in: z.number().int().openapi({ description: "Seconds left to start the download" }),
}).openapi("Ticket");

const createTicketRoute = createRoute({
  method: "post",
  path: "/api/files/{id}/ticket",
  summary: "A short-lived URL that downloads this file without a token",
  security: bearerSecurity,
  request: {
    params: FileIdParam,
    body: { required: true, content: { "application/json": { schema: TicketRequestSchema } } },
  },
  responses: {
    201: { description: "The ticket", content: { "application/json": { schema: TicketSchema } } },
    400: problem("Unknown variant"),
    404: problem("No such file of yours"),
    409: problem("The file is not stored yet"),
  },
});

const downloadRoute = createRoute({
  method: "get",
  path: "/api/dl/{ticket}",
  summary: "Download through a ticket (no token; Range supported)",
  request: { params: z.object({ ticket: z.string().max(64) }) },
  responses: {
    200: binaryResponse("The file in the ticket's variant, streamed"),
    206: binaryResponse("The requested byte range"),
    404: problem("Unknown or expired ticket, or the file is gone"),
    416: problem("Range not satisfiable"),
    502: problem("The stored file failed its integrity check"),
  },
});

/**
 * The ticket route group. Mount it after the auth middleware: the POST is
 * under `/api/files/*` (signed in), the GET under `/api/dl/` (public).
 */
export function ticketRoutes(services: Services) {
  const { files, log } = services;
  const tickets = new TicketStore(services.redis, services.config.ticketTtlSeconds);
  const router = createRouter();
  router.openapi(createTicketRoute, async (c) => {
    const user = c.get("user");
    const record = await storedFile(files, user.id, c.req.valid("param").id);
    const { variant } = c.req.valid("json");
    const ticket = await tickets.create({ userId: user.id, fileId: record.id, variant });
    log.info("ticket.created", { user_id: user.id, file_id: record.id, variant });
    c.header("Cache-Control", "no-store");
    return c.json({ url: `${TICKET_PATH_PREFIX}${ticket}`, expires_in: tickets.ttlSeconds }, 201);
  });
  router.openapi(downloadRoute, async (c) => {
    const grant = await tickets.find(c.req.valid("param").ticket);
    if (!grant) throw new CofferError("TICKET_NOT_FOUND");
    const record = await storedFile(files, grant.userId, grant.fileId);
    return await (grant.variant === "content"
      ? servePlaintext(c, services, record)
      : serveCiphertext(c, services, record)) as never;
  });
  return router;
}
