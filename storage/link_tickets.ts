/**
 * Unlock tickets of password-protected links. Unlocking a share or a file
 * request with its password yields a ticket: an opaque random string that,
 * for a short while, stands for the password on that one link's
 * `content` (or `files`) route — so the browser's own download manager can
 * fetch `?t=<ticket>` without the password in a URL. A ticket is bound to
 * the kind and id of its link and grants nothing else; Redis keeps only a
 * hash of it (`link-ticket:<sha256>`), expiring with it. A revoked link's
 * tickets open nothing: every route looks the link up first.
 */
import type { Redis } from "ioredis";
import { createHash } from "node:crypto";

/** How long a ticket can start requests, in seconds. */
export const TICKET_TTL_SECONDS = 300;

/** What a ticket opens. */
export type LinkKind = "share" | "request";

function ticketKey(ticket: string): string {
  return `link-ticket:${createHash("sha256").update(ticket).digest("hex")}`;
}

function randomTicket(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Tickets over the metadata connection (keys already prefixed). */
export class LinkTickets {
  constructor(private readonly redis: Redis) {}

  /**
   * Issues a ticket for one link.
   *
   * @returns The ticket (256 random bits, base64url) and its lifetime in seconds.
   */
  async issue(kind: LinkKind, linkId: string): Promise<{ ticket: string; expires_in: number }> {
    const ticket = randomTicket();
    await this.redis.set(ticketKey(ticket), `${kind}:${linkId}`, "EX", TICKET_TTL_SECONDS);
    return { ticket, expires_in: TICKET_TTL_SECONDS };
  }

  /** Whether `ticket` is a live ticket of exactly this link. */
  async admits(kind: LinkKind, linkId: string, ticket: string | undefined): Promise<boolean> {
    if (!ticket || ticket.length > 128) return false;
    return (await this.redis.get(ticketKey(ticket))) === `${kind}:${linkId}`;
  }
}
