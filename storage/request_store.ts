/**
 * File requests in Redis — upload links for people without an account: one
 * hash per request (`request:<id>`) and a newest-first index per owner
 * (`requests:<owner>`). How many files a request has taken is one counter
 * (`files_claimed`), claimed in a Lua script before each file is staged and
 * given back if the upload fails, so concurrent uploaders through any number
 * of API processes never exceed `max_files`.
 *
 * Like share links, records outlive their expiry by
 * {@linkcode RETAIN_AFTER_EXPIRY_MS} (answering 410), then Redis drops them.
 */
import type { Redis } from "ioredis";
import { indexMember, readIndexPage } from "./_link_index.ts";
import { RETAIN_AFTER_EXPIRY_MS } from "./share_store.ts";

/** A file request as stored. */
export interface RequestRecord {
  id: string;
  owner: string;
  title: string;
  created_at: string;
  expires_at: string;
  /** `null`: any number of files until expiry (within the owner's quota). */
  max_files: number | null;
  /** Largest file accepted, in bytes. */
  max_bytes: number;
  files_received: number;
  /** argon2id PHC string, when the request has a password. */
  password_hash?: string;
}

/** Why {@linkcode RequestStore.claimFile} refused a file. */
export type ClaimRefusal = "missing" | "expired" | "full";

/** Whether a request still takes files. */
export type RequestState = "active" | "expired" | "full";

/** The state of a request at `now` (ms). */
export function requestState(request: RequestRecord, now = Date.now()): RequestState {
  if (now >= Date.parse(request.expires_at)) return "expired";
  return filesLeft(request) === 0 ? "full" : "active";
}

/** Files the request still takes (`null`: no limit). */
export function filesLeft(request: RequestRecord): number | null {
  return request.max_files === null
    ? null
    : Math.max(0, request.max_files - request.files_received);
}

function fromHash(hash: Record<string, string>): RequestRecord | undefined {
  if (!hash.id) return undefined;
  const record: RequestRecord = {
    id: hash.id,
    owner: hash.owner,
    title: hash.title,
    created_at: hash.created_at,
    expires_at: hash.expires_at,
    max_files: hash.max_files === "" ? null : Number(hash.max_files),
    max_bytes: Number(hash.max_bytes),
    files_received: Number(hash.files_claimed ?? 0),
  };
  if (hash.password_hash) record.password_hash = hash.password_hash;
  return record;
}

// KEYS: request. ARGV: now ms. Claims one file.
const CLAIM = `
local f = redis.call('HMGET', KEYS[1], 'id', 'expires_ms', 'max_files', 'files_claimed')
if not f[1] then return 'missing' end
if tonumber(ARGV[1]) >= tonumber(f[2]) then return 'expired' end
local max = tonumber(f[3])
if max and tonumber(f[4]) >= max then return 'full' end
redis.call('HINCRBY', KEYS[1], 'files_claimed', 1)
return 'ok'`;

// KEYS: request. ARGV: n. Gives back n claims of an upload that failed.
const RELEASE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local left = tonumber(redis.call('HGET', KEYS[1], 'files_claimed')) - tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'files_claimed', math.max(0, left))
return 1`;

/** File requests over the metadata connection (keys already prefixed). */
export class RequestStore {
  constructor(private readonly redis: Redis) {}

  /** Saves a new request and indexes it under its owner. */
  async create(request: RequestRecord): Promise<void> {
    const expiresMs = Date.parse(request.expires_at);
    const fields: Record<string, string> = {
      id: request.id,
      owner: request.owner,
      title: request.title,
      created_at: request.created_at,
      expires_at: request.expires_at,
      expires_ms: String(expiresMs),
      max_files: request.max_files === null ? "" : String(request.max_files),
      max_bytes: String(request.max_bytes),
      files_claimed: String(request.files_received),
    };
    if (request.password_hash) fields.password_hash = request.password_hash;
    await this.redis.multi()
      .hset(`request:${request.id}`, fields)
      .pexpireat(`request:${request.id}`, expiresMs + RETAIN_AFTER_EXPIRY_MS)
      .zadd(`requests:${request.owner}`, 0, indexMember(request.created_at, request.id))
      .exec();
  }

  /** The request, or `undefined` (unknown, revoked, or forgotten after expiry). */
  async get(id: string): Promise<RequestRecord | undefined> {
    return fromHash(await this.redis.hgetall(`request:${id}`));
  }

  /** The request if `owner` made it; another owner's is indistinguishable from none. */
  async getOwned(owner: string, id: string): Promise<RequestRecord | undefined> {
    const request = await this.get(id);
    return request?.owner === owner ? request : undefined;
  }

  /** The owner's requests, newest first. */
  async list(owner: string, limit: number, cursor?: string) {
    const page = await readIndexPage(
      this.redis,
      `requests:${owner}`,
      limit,
      cursor,
      (id) => this.getOwned(owner, id),
    );
    return { requests: page.items, next_cursor: page.next_cursor };
  }

  /** Deletes a request at once; files already received stay the owner's. */
  async revoke(request: Pick<RequestRecord, "id" | "owner" | "created_at">): Promise<void> {
    await this.redis.multi()
      .del(`request:${request.id}`)
      .zrem(`requests:${request.owner}`, indexMember(request.created_at, request.id))
      .exec();
  }

  /** Claims room for one more file, atomically; `"ok"` or why not. */
  async claimFile(id: string): Promise<"ok" | ClaimRefusal> {
    return await this.redis.eval(CLAIM, 1, `request:${id}`, Date.now()) as "ok" | ClaimRefusal;
  }

  /** Gives back `count` claims (their upload failed). */
  async releaseFiles(id: string, count: number): Promise<void> {
    if (count > 0) await this.redis.eval(RELEASE, 1, `request:${id}`, count);
  }
}
