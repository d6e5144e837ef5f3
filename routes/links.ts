/**
 * What share links (`/s/…`) and file requests (`/r/…`) have in common: the
 * rules of their creation bodies (expiry, password), the headers of every
 * public link response, the small JSON body limit, and unlocking with a
 * password — argon2id, wrong tries limited per link and per client address
 * (counted before the hash is checked, so concurrent guesses cannot slip
 * past; a right password gives its attempt back), answered with a ticket
 * bound to the link (storage/link_tickets.ts).
 */
import { z } from "@hono/zod-openapi";
import type { Context, Next } from "hono";
import { bodyLimit } from "hono/body-limit";
import { clientAddress, type ClientAddressFn } from "../auth/client_address.ts";
import {
  checkPassword,
  hashPassword,
  PASSWORD_MAX_CHARS,
  PASSWORD_MIN_CHARS,
  verifyPassword,
} from "../auth/passwords.ts";
import { RateLimiter, type RateLimitRule } from "../auth/rate_limit.ts";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { ID_PATTERN } from "../storage/ids.ts";
import { linkLogId } from "../storage/link_log_id.ts";
import type { LinkKind } from "../storage/link_tickets.ts";
import type { AppEnv } from "./env.ts";
import { FILE_CSP } from "./file_headers.ts";

/** Expiry of a link created without `expires_in`: 7 days. */
export const DEFAULT_LINK_TTL_SECONDS = 7 * 24 * 3600;
/** Shortest `expires_in` accepted. */
export const MIN_LINK_TTL_SECONDS = 60;
/** Largest JSON body the link routes read (a 1024-character password fits escaped). */
export const MAX_LINK_BODY_BYTES = 16 * 1024;

/** The `expires_in` member of a creation body, bounded by `COFFER_SHARE_MAX_TTL`. */
export function expiresInSchema(maxTtlSeconds: number) {
  return z.number().int().min(MIN_LINK_TTL_SECONDS).max(maxTtlSeconds).optional().openapi({
    description: `Seconds until the link expires (default ${DEFAULT_LINK_TTL_SECONDS})`,
  });
}

/** A new link's password: 8–1024 characters, as account passwords. */
export const LinkPasswordSchema = z.string().superRefine((password, ctx) => {
  const reason = checkPassword(password);
  if (reason) ctx.addIssue({ code: "custom", message: `Password ${reason}` });
}).openapi({ minLength: PASSWORD_MIN_CHARS, maxLength: PASSWORD_MAX_CHARS });

/** The body of `POST …/unlock`. */
export const UnlockSchema = z.object({
  password: z.string().min(1).max(PASSWORD_MAX_CHARS * 2),
}).openapi("Unlock");

/** The answer of `POST …/unlock`. */
export const TicketSchema = z.object({
  ticket: z.string(),
  expires_in: z.number().int().openapi({ description: "Seconds the ticket can start requests" }),
}).openapi("UnlockTicket");

/** The `:id` of a link route. */
export const LinkIdParam = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" } }),
});

/** The expiry instant of a link created now with `expiresIn` seconds (or the default). */
export function expiryFrom(expiresIn: number | undefined, now = Date.now()): string {
  return new Date(now + (expiresIn ?? DEFAULT_LINK_TTL_SECONDS) * 1000).toISOString();
}

/** The stored hash of a new link's password, or `undefined` without one. */
export async function linkPasswordHash(password: string | undefined) {
  return password === undefined ? undefined : await hashPassword(password);
}

/** Whether a path parameter can be a link id at all (anything else is 404 without a look-up). */
export function isLinkId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Refuses JSON bodies over {@linkcode MAX_LINK_BODY_BYTES} with 413. */
export const limitLinkBody = bodyLimit({
  maxSize: MAX_LINK_BODY_BYTES,
  onError: () => {
    throw new CofferError(
      "BODY_TOO_LARGE",
      `Request bodies here are limited to ${MAX_LINK_BODY_BYTES} bytes`,
    );
  },
});

/**
 * Headers of every public link response (`/s/*`, `/r/*`): not indexed, no
 * Referer sent onwards (the URL is the secret), never embeddable by another
 * origin, never cached; anything but the page gets the sandbox CSP of file
 * responses.
 */
export async function linkHeaders(c: Context, next: Next) {
  await next();
  c.header("X-Robots-Tag", "noindex, nofollow");
  c.header("Referrer-Policy", "no-referrer");
  c.header("Cross-Origin-Resource-Policy", "same-origin");
  c.header("Cache-Control", "no-store");
  if (!c.res.headers.has("Content-Security-Policy")) c.header("Content-Security-Policy", FILE_CSP);
}

/** Limits on password guessing; production defaults in {@linkcode DEFAULT_LINK_LIMITS}. */
export interface LinkLimits {
  /** Wrong passwords for one link, from anywhere. */
  wrongPasswordsPerLink: RateLimitRule;
  /** Wrong passwords from one client address, for any links. */
  wrongPasswordsPerAddress: RateLimitRule;
  /** Upload requests to file requests from one client address. */
  requestUploadsPerAddress: RateLimitRule;
}

/** Production defaults. */
export const DEFAULT_LINK_LIMITS: LinkLimits = {
  wrongPasswordsPerLink: { limit: 30, windowMs: 15 * 60_000 },
  wrongPasswordsPerAddress: { limit: 10, windowMs: 15 * 60_000 },
  requestUploadsPerAddress: { limit: 200, windowMs: 60 * 60_000 },
};

/** Options of the public link routes; tests shorten the limits. */
export interface PublicLinkOptions {
  limits?: Partial<LinkLimits>;
  /** How to find the client address (default: the TCP peer; never X-Forwarded-For). */
  clientAddress?: ClientAddressFn;
}

/** A link that may have a password. */
interface Lockable {
  id: string;
  password_hash?: string;
}

/**
 * Creates the unlock step shared by `/s/:id/unlock` and `/r/:id/unlock`.
 *
 * @returns `unlock(c, kind, link, password)`, resolving to a ticket; it throws
 *   `WRONG_PASSWORD` (401), `RATE_LIMITED` (429) or `BAD_REQUEST` for a link
 *   without a password.
 */
export function createUnlocker(services: Services, options: PublicLinkOptions = {}) {
  const { log, metrics, linkTickets, redis } = services;
  const limits = { ...DEFAULT_LINK_LIMITS, ...options.limits };
  const perLink = new RateLimiter(redis, "link-password", limits.wrongPasswordsPerLink);
  const perAddress = new RateLimiter(redis, "link-password-addr", limits.wrongPasswordsPerAddress);
  const addressOf = options.clientAddress ?? clientAddress;
  return async function unlock(
    c: Context<AppEnv>,
    kind: LinkKind,
    link: Lockable,
    password: string,
  ) {
    if (!link.password_hash) throw new CofferError("BAD_REQUEST", "This link has no password");
    const address = addressOf(c);
    const subject = `${kind}:${linkLogId(link.id)}`;
    await perAddress.consume(address);
    await perLink.consume(subject);
    if (!await verifyPassword(password, link.password_hash)) {
      metrics.sharePasswordFailures.inc();
      log.info("link.password_failed", {
        kind,
        link: linkLogId(link.id),
        request_id: c.get("requestId"),
      });
      throw new CofferError("WRONG_PASSWORD");
    }
    await Promise.all([perAddress.refund(address), perLink.refund(subject)]);
    c.header("Cache-Control", "no-store");
    return await linkTickets.issue(kind, link.id);
  };
}

/** Throws PASSWORD_REQUIRED unless the request carries a live ticket of this link. */
export async function requireTicket(
  services: Services,
  kind: LinkKind,
  link: Lockable,
  ticket: string | undefined,
): Promise<void> {
  if (!link.password_hash) return;
  if (await services.linkTickets.admits(kind, link.id, ticket)) return;
  throw new CofferError(
    "PASSWORD_REQUIRED",
    ticket === undefined
      ? "Unlock this link with its password first"
      : "The unlock ticket is not valid for this link (it may have expired): unlock again",
  );
}
