/**
 * The per-owner, newest-first index shared by share links and file
 * requests: a sorted set whose members are `<created ms, 15 digits>:<id>`
 * (all scores 0, read with ZREVRANGEBYLEX, as FileStore's index), paged with
 * an opaque cursor. Entries whose record has expired are dropped as a page
 * is read.
 */
import type { Redis } from "ioredis";
import { CofferError } from "../errors.ts";

const CURSOR = /^[0-9]{15}:[A-Za-z0-9_-]{1,64}$/;

/** The index member of a record created at `createdAt` (ISO) with `id`. */
export function indexMember(createdAt: string, id: string): string {
  return `${String(Date.parse(createdAt)).padStart(15, "0")}:${id}`;
}

function decodeCursor(cursor: string): string {
  try {
    const member = atob(cursor);
    if (CURSOR.test(member)) return member;
  } catch {
    // Not base64: refused below.
  }
  throw new CofferError("VALIDATION_FAILED", "cursor: not a cursor from this API");
}

/**
 * Reads one page of an index and loads its records.
 *
 * @param load Loads a record by id; `undefined` drops the entry from the index.
 * @returns The records found and the cursor of the next page (or null).
 */
export async function readIndexPage<T>(
  redis: Redis,
  indexKey: string,
  limit: number,
  cursor: string | undefined,
  load: (id: string) => Promise<T | undefined>,
): Promise<{ items: T[]; next_cursor: string | null }> {
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  const members = await redis.zrevrangebylex(
    indexKey,
    after ? `(${after}` : "+",
    "-",
    "LIMIT",
    0,
    limit + 1,
  );
  const page = members.slice(0, limit);
  const items: T[] = [];
  for (const member of page) {
    const item = await load(member.slice(16));
    if (item === undefined) await redis.zrem(indexKey, member);
    else items.push(item);
  }
  const last = page[page.length - 1];
  return {
    items,
    next_cursor: members.length > limit ? btoa(last).replaceAll("=", "") : null,
  };
}
