/**
 * Download tickets: short-lived, unguessable capabilities for one download
 * (SPEC section 11). A ticket is 256 random bits (base64url, 43 characters)
 * that names one user's file and one variant — the decrypted content or the
 * stored ciphertext — and nothing else. Redis keeps only its SHA-256:
 *
 * ```
 * ticket:<sha256 hex>   hash: user, file, variant; expires with the ticket
 * ```
 *
 * A ticket may be used any number of times within its lifetime (a browser's
 * download manager may send HEAD, then GET, then resume with a Range); once
 * a response has started, it streams to the end whatever the clock says.
 *
 * @module
 */
import type { Redis } from "ioredis";

/** What a ticket grants access to. */
export type TicketVariant = "content" | "ciphertext";

/** The variants, for validation. */
export const TICKET_VARIANTS = ["content", "ciphertext"] as const;

/** What a ticket looks like; anything else is refused unread. */
export const TICKET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A ticket's grant. */
export interface TicketGrant {
  userId: string;
  fileId: string;
  variant: TicketVariant;
}

async function ticketKey(ticket: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(ticket)),
  );
  return `ticket:${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function newTicket(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/**
 * Tickets in Redis.
 *
 * @example
 * ```ts
 * const tickets = new TicketStore(redis, 60);
 * const ticket = await tickets.create({ userId, fileId, variant: "content" });
 * await tickets.find(ticket); // {userId, fileId, variant} for the next 60 s
 * ```
 */
export class TicketStore {
  /**
   * @param redis The metadata connection.
   * @param ttlSeconds How long a ticket lasts (`COFFER_TICKET_TTL`).
   */
  constructor(private readonly redis: Redis, readonly ttlSeconds: number) {}

  /** Creates a ticket for a grant; returns the ticket. */
  async create(grant: TicketGrant): Promise<string> {
    const ticket = newTicket();
    const key = await ticketKey(ticket);
    await this.redis.multi()
      .hset(key, { user: grant.userId, file: grant.fileId, variant: grant.variant })
      .expire(key, this.ttlSeconds)
      .exec();
    return ticket;
  }

  /** The grant of a live ticket, or `undefined` (malformed, unknown or expired). */
  async find(ticket: string): Promise<TicketGrant | undefined> {
    if (!TICKET_PATTERN.test(ticket)) return undefined;
    const [userId, fileId, variant] = await this.redis.hmget(
      await ticketKey(ticket),
      "user",
      "file",
      "variant",
    );
    if (!userId || !fileId || (variant !== "content" && variant !== "ciphertext")) return undefined;
    return { userId, fileId, variant };
  }
}
