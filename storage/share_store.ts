/**
 * Share links in Redis: one hash per link (`share:<id>`), a newest-first
 * index per owner (`shares:<owner>`), the links of each file
 * (`file-shares:<file>`, so deleting a file deletes them), the downloads in
 * flight (`share-inflight:<id>`) and the access log (`share-log:<id>`, the
 * newest {@linkcode ACCESS_LOG_LENGTH} entries).
 *
 * Counting is decided in Redis, one Lua script per decision, so any number
 * of API processes agree. A download is admitted by {@linkcode ShareStore.admit}
 * only if the committed counts plus every download in flight leave room for
 * it; it then holds a lease (renewed while it streams, expiring by itself if
 * its process dies) and commits what it served in
 * {@linkcode ShareStore.finish}. The rules (SPEC section 12): a completed
 * full download counts one download and its bytes; a ranged or unfinished
 * response counts the bytes it sent; the link is used up when `downloads`
 * reaches `max_downloads` or `bytes_served` reaches `max_downloads × size`.
 * A full download needs a download left and some bytes left; a range needs
 * its whole length left, so ranges cannot stretch the limit.
 *
 * Records outlive their expiry by {@linkcode RETAIN_AFTER_EXPIRY_MS} (so the
 * link answers 410 and the owner sees it expired), then Redis drops them.
 */
import type { Redis } from "ioredis";
import { indexMember, readIndexPage } from "./_link_index.ts";

/** How long an expired link is kept (answering 410) before it is forgotten. */
export const RETAIN_AFTER_EXPIRY_MS = 30 * 24 * 3600 * 1000;
/** Entries kept in a link's access log. */
export const ACCESS_LOG_LENGTH = 100;

/** A share link as stored. */
export interface ShareRecord {
  id: string;
  owner: string;
  file_id: string;
  created_at: string;
  expires_at: string;
  /** `null`: any number of downloads until expiry. */
  max_downloads: number | null;
  downloads: number;
  bytes_served: number;
  /** The file's plaintext size when the link was made (the byte budget's unit). */
  size: number;
  /** argon2id PHC string, when the link has a password. */
  password_hash?: string;
}

/** One download through a link, as the owner sees it. */
export interface AccessEntry {
  at: string;
  address: string;
  bytes: number;
  completed: boolean;
}

/** Whether a link can still serve. */
export type ShareState = "active" | "expired" | "used_up";

/** Why {@linkcode ShareStore.admit} refused a download. */
export type Refusal = "missing" | "expired" | "used_up" | "busy" | "too_long";

/** A download admitted by {@linkcode ShareStore.admit}. */
export interface ShareLease {
  shareId: string;
  /** The in-flight entry: `<random>:<full|range>:<bytes>`. */
  member: string;
  full: boolean;
}

/** The state of a link at `now` (ms). */
export function shareState(share: ShareRecord, now = Date.now()): ShareState {
  if (now >= Date.parse(share.expires_at)) return "expired";
  return downloadsLeft(share) === 0 ? "used_up" : "active";
}

/**
 * Full downloads the link has left: `null` without a limit; otherwise the
 * fewer of the downloads left and the whole files the bytes left still cover.
 */
export function downloadsLeft(share: ShareRecord): number | null {
  if (share.max_downloads === null) return null;
  const byCount = Math.max(0, share.max_downloads - share.downloads);
  if (share.size === 0) return byCount;
  const bytesLeft = share.max_downloads * share.size - share.bytes_served;
  return bytesLeft <= 0 ? 0 : byCount;
}

const NUMERIC = new Set(["downloads", "bytes_served", "size"]);

function fromHash(hash: Record<string, string>): ShareRecord | undefined {
  if (!hash.id) return undefined;
  const record: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(hash)) {
    record[field] = NUMERIC.has(field) ? Number(value) : value;
  }
  record.max_downloads = hash.max_downloads === "" ? null : Number(hash.max_downloads);
  return record as unknown as ShareRecord;
}

// Admits one download. KEYS: share, in-flight. ARGV: now ms, member, kind, bytes, lease ms.
const ADMIT = `
local f = redis.call('HMGET', KEYS[1], 'id', 'expires_ms', 'max_downloads', 'downloads', 'bytes_served', 'size')
if not f[1] then return 'missing' end
local now = tonumber(ARGV[1])
if now >= tonumber(f[2]) then return 'expired' end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local max = tonumber(f[3])
if max then
  local downloads, served, size = tonumber(f[4]), tonumber(f[5]), tonumber(f[6])
  local budget = max * size
  if downloads >= max or (size > 0 and served >= budget) then return 'used_up' end
  local full, reserved = 0, 0
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local kind, bytes = string.match(member, ':(%a+):(%d+)$')
    if kind == 'full' then full = full + 1 end
    reserved = reserved + tonumber(bytes)
  end
  local want = tonumber(ARGV[4])
  if ARGV[3] == 'full' then
    if downloads + full >= max or (size > 0 and served + reserved >= budget) then return 'busy' end
  else
    if served + want > budget then return 'too_long' end
    if served + reserved + want > budget then return 'busy' end
  end
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]) * 2)
return 'ok'`;

// Extends a lease. KEYS: share, in-flight. ARGV: now ms, member, lease ms. 1 if still held.
const RENEW = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if not redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], 'XX', tonumber(ARGV[1]) + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) * 2)
return 1`;

// Commits a download. KEYS: share, in-flight, log. ARGV: member, bytes, completed full (1/0),
// log entry, log length.
const FINISH = `
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'bytes_served', tonumber(ARGV[2]))
if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[1], 'downloads', 1) end
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
redis.call('PEXPIREAT', KEYS[3], tonumber(redis.call('HGET', KEYS[1], 'retain_until')))
return 1`;

/** Share links over the metadata connection (keys already prefixed). */
export class ShareStore {
  constructor(private readonly redis: Redis) {}

  /** Saves a new link and indexes it under its owner and its file. */
  async create(share: ShareRecord): Promise<void> {
    const expiresMs = Date.parse(share.expires_at);
    const retainUntil = expiresMs + RETAIN_AFTER_EXPIRY_MS;
    const fields: Record<string, string> = {
      id: share.id,
      owner: share.owner,
      file_id: share.file_id,
      created_at: share.created_at,
      expires_at: share.expires_at,
      expires_ms: String(expiresMs),
      retain_until: String(retainUntil),
      max_downloads: share.max_downloads === null ? "" : String(share.max_downloads),
      downloads: String(share.downloads),
      bytes_served: String(share.bytes_served),
      size: String(share.size),
    };
    if (share.password_hash) fields.password_hash = share.password_hash;
    await this.redis.multi()
      .hset(`share:${share.id}`, fields)
      .pexpireat(`share:${share.id}`, retainUntil)
      .zadd(`shares:${share.owner}`, 0, indexMember(share.created_at, share.id))
      .sadd(`file-shares:${share.file_id}`, share.id)
      .exec();
  }

  /** The link, or `undefined` (unknown, revoked, or forgotten after expiry). */
  async get(id: string): Promise<ShareRecord | undefined> {
    return fromHash(await this.redis.hgetall(`share:${id}`));
  }

  /** The link if `owner` made it; another owner's link is indistinguishable from none. */
  async getOwned(owner: string, id: string): Promise<ShareRecord | undefined> {
    const share = await this.get(id);
    return share?.owner === owner ? share : undefined;
  }

  /** The owner's links, newest first. */
  async list(owner: string, limit: number, cursor?: string) {
    const page = await readIndexPage(
      this.redis,
      `shares:${owner}`,
      limit,
      cursor,
      (id) => this.getOwned(owner, id),
    );
    return { shares: page.items, next_cursor: page.next_cursor };
  }

  /** Every link of the owner's to one file, newest first. */
  async listForFile(owner: string, fileId: string): Promise<ShareRecord[]> {
    const ids = await this.redis.smembers(`file-shares:${fileId}`);
    const found = await Promise.all(ids.map((id) => this.getOwned(owner, id)));
    return found.filter((share): share is ShareRecord => share !== undefined)
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
  }

  /**
   * Deletes a link at once: new requests find nothing (404), and downloads
   * in flight stop at their next lease renewal.
   */
  async revoke(share: Pick<ShareRecord, "id" | "owner" | "file_id" | "created_at">): Promise<void> {
    await this.redis.multi()
      .del(`share:${share.id}`, `share-inflight:${share.id}`, `share-log:${share.id}`)
      .zrem(`shares:${share.owner}`, indexMember(share.created_at, share.id))
      .srem(`file-shares:${share.file_id}`, share.id)
      .exec();
  }

  /** Revokes every link to a file (the file is being deleted). */
  async revokeAllForFile(fileId: string): Promise<number> {
    const ids = await this.redis.smembers(`file-shares:${fileId}`);
    for (const id of ids) {
      const share = await this.get(id);
      if (share) await this.revoke(share);
    }
    await this.redis.del(`file-shares:${fileId}`);
    return ids.length;
  }

  /**
   * Decides atomically whether one more download may start.
   *
   * @param full A whole-file download (else a range of `bytes`).
   * @param bytes What the response will send.
   * @param leaseMs How long the admission holds without renewal.
   * @returns The lease, or why the download is refused.
   */
  async admit(
    shareId: string,
    full: boolean,
    bytes: number,
    leaseMs: number,
  ): Promise<ShareLease | Refusal> {
    const random = crypto.randomUUID();
    const member = `${random}:${full ? "full" : "range"}:${bytes}`;
    const outcome = await this.redis.eval(
      ADMIT,
      2,
      `share:${shareId}`,
      `share-inflight:${shareId}`,
      Date.now(),
      member,
      full ? "full" : "range",
      bytes,
      leaseMs,
    ) as "ok" | Refusal;
    return outcome === "ok" ? { shareId, member, full } : outcome;
  }

  /** Extends a lease; `false` once the link is revoked (the download should stop). */
  async renew(lease: ShareLease, leaseMs: number): Promise<boolean> {
    const held = await this.redis.eval(
      RENEW,
      2,
      `share:${lease.shareId}`,
      `share-inflight:${lease.shareId}`,
      Date.now(),
      lease.member,
      leaseMs,
    );
    return held === 1;
  }

  /**
   * Ends a download: releases its lease, adds the bytes it sent, counts a
   * completed full download as one, and logs the access.
   */
  async finish(lease: ShareLease, access: AccessEntry): Promise<void> {
    await this.redis.eval(
      FINISH,
      3,
      `share:${lease.shareId}`,
      `share-inflight:${lease.shareId}`,
      `share-log:${lease.shareId}`,
      lease.member,
      access.bytes,
      lease.full && access.completed ? "1" : "0",
      JSON.stringify(access),
      ACCESS_LOG_LENGTH,
    );
  }

  /** The access log, newest first. */
  async accesses(shareId: string): Promise<AccessEntry[]> {
    const lines = await this.redis.lrange(`share-log:${shareId}`, 0, ACCESS_LOG_LENGTH - 1);
    return lines.map((line) => JSON.parse(line) as AccessEntry);
  }
}
