/**
 * Resumable (tus) uploads in progress: who owns each, how long it will be,
 * how far it has come and when it expires. The HTTP layer (routes/tus.ts)
 * sees only the {@linkcode UploadStore} interface, the way tusd's handler
 * sees a data store; the bytes themselves are in the staging area under the
 * upload's id, which is also the id of the file it becomes.
 *
 * Redis layout (under the deployment prefix):
 *
 * ```
 * tus:<id>      hash: owner, length, offset, metadata, name, content_type,
 *               created_at, expires_at (ms), file_id (once complete)
 * tus_expiry    sorted set: upload id → expires_at (ms), for the janitor
 * ```
 *
 * The offset moves only through {@linkcode UploadStore.advance}, one script
 * that checks the caller still holds the upload's lock (storage/upload_lock.ts)
 * and that the offset is the one the caller started from, so two processes
 * can never both append at one offset.
 *
 * @module
 */
import type { Redis } from "ioredis";

/** One resumable upload. */
export interface UploadState {
  id: string;
  owner: string;
  /** Declared length (`Upload-Length`). */
  length: number;
  /** Bytes received and flushed to staging. */
  offset: number;
  /** The `Upload-Metadata` header as sent at creation, echoed on HEAD. */
  metadata: string;
  /** Display name and content type the file will get. */
  name: string;
  contentType: string;
  createdAt: string;
  /** When the upload expires unless it makes progress (ms since the epoch). */
  expiresAt: number;
  /** The file it became, once complete. */
  fileId?: string;
}

/** Where resumable uploads are kept; routes and the janitor depend on this only. */
export interface UploadStore {
  /** Saves a new upload. */
  create(upload: UploadState): Promise<void>;
  /** The upload, or `undefined`. */
  get(id: string): Promise<UploadState | undefined>;
  /**
   * Moves the offset from `from` to `to` and the expiry to `expiresAt`, if
   * the lock `lockToken` is still held and the offset is still `from`.
   *
   * @returns Whether it moved.
   */
  advance(
    id: string,
    lockToken: string,
    from: number,
    to: number,
    expiresAt: number,
  ): Promise<boolean>;
  /** Records the file a complete upload became. */
  complete(id: string, fileId: string): Promise<void>;
  /** Forgets an upload (terminated, expired). */
  remove(id: string): Promise<void>;
  /** Ids of uploads whose expiry is at or before `now` (ms), at most `limit`. */
  expiredIds(now: number, limit: number): Promise<string[]>;
}

// KEYS: upload, lock, expiry index. ARGV: id, token, from, to, expires_at.
const ADVANCE = `
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return -1 end
if redis.call('HGET', KEYS[1], 'offset') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'offset', ARGV[4], 'expires_at', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
return 1`;

/** The Redis key of an upload's lock (storage/upload_lock.ts takes it). */
export function uploadLockKey(id: string): string {
  return `tus_lock:${id}`;
}

const EXPIRY_INDEX = "tus_expiry";

function fromHash(hash: Record<string, string>): UploadState | undefined {
  if (!hash.owner) return undefined;
  return {
    id: hash.id,
    owner: hash.owner,
    length: Number(hash.length),
    offset: Number(hash.offset),
    metadata: hash.metadata ?? "",
    name: hash.name ?? "",
    contentType: hash.content_type ?? "application/octet-stream",
    createdAt: hash.created_at,
    expiresAt: Number(hash.expires_at),
    ...(hash.file_id ? { fileId: hash.file_id } : {}),
  };
}

/**
 * Uploads in Redis.
 *
 * @example
 * ```ts
 * const uploads = new RedisUploadStore(services.redis);
 * const upload = await uploads.get(id);
 * ```
 */
export class RedisUploadStore implements UploadStore {
  /** @param redis The metadata connection (keys under the deployment prefix). */
  constructor(private readonly redis: Redis) {}

  async create(upload: UploadState): Promise<void> {
    await this.redis.multi()
      .hset(`tus:${upload.id}`, {
        id: upload.id,
        owner: upload.owner,
        length: upload.length,
        offset: upload.offset,
        metadata: upload.metadata,
        name: upload.name,
        content_type: upload.contentType,
        created_at: upload.createdAt,
        expires_at: upload.expiresAt,
      })
      .zadd(EXPIRY_INDEX, upload.expiresAt, upload.id)
      .exec();
  }

  async get(id: string): Promise<UploadState | undefined> {
    return fromHash(await this.redis.hgetall(`tus:${id}`));
  }

  async advance(
    id: string,
    lockToken: string,
    from: number,
    to: number,
    expiresAt: number,
  ): Promise<boolean> {
    const moved = await this.redis.eval(
      ADVANCE,
      3,
      `tus:${id}`,
      uploadLockKey(id),
      EXPIRY_INDEX,
      id,
      lockToken,
      from,
      to,
      expiresAt,
    );
    return moved === 1;
  }

  async complete(id: string, fileId: string): Promise<void> {
    await this.redis.hset(`tus:${id}`, "file_id", fileId);
  }

  async remove(id: string): Promise<void> {
    await this.redis.multi().del(`tus:${id}`).zrem(EXPIRY_INDEX, id).exec();
  }

  async expiredIds(now: number, limit: number): Promise<string[]> {
    return await this.redis.zrangebyscore(EXPIRY_INDEX, "-inf", now, "LIMIT", 0, limit);
  }
}
