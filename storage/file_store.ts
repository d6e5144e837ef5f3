/**
 * File records in Redis: one hash per file (`file:<id>`) and, per owner, a
 * sorted set of ids by creation time (`files:<owner>`) for newest-first
 * listing with an opaque cursor, whose size is the owner's file count. The
 * compatible name look-up has an index of its own: per owner and display
 * name, the owner's `stored` files of that name by creation time
 * (`names:<owner>:<sha-256 of the name>`), kept in the same scripts that
 * store and delete records. Routes and workers use this, never raw
 * Redis commands. Display names live here in clear (Redis is private
 * metadata); in the bucket they exist only sealed in the key sidecar.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { CofferError } from "../errors.ts";

/** Where a file is in its life. */
export type FileStatus = "queued" | "encrypting" | "stored" | "failed";

/** The stored form of a file record (internal fields included). */
export interface FileRecord {
  id: string;
  owner: string;
  name: string;
  size: number;
  content_type: string;
  status: FileStatus;
  created_at: string;
  stored_at?: string;
  ciphertext_size?: number;
  sha256?: string;
  error?: string;
  /**
   * The upload attempt running (`encrypting`) or next to run (`queued`):
   * above 1 after a failed or interrupted attempt.
   */
  attempt?: number;
  /** The file request it arrived through (routes/public_requests.ts), if any. */
  via_request?: string;
  /** Key id of the master key that wraps the DEK. */
  kid: string;
  /** The wrapped data key, base64. Removed first on delete (crypto-shredding). */
  wrapped_dek?: string;
}

/**
 * The record as the API shows it: no key material, no owner, and no attempt
 * (the status shows a retry; a stored file's history is not part of it).
 */
export type PublicFileRecord = Omit<FileRecord, "owner" | "kid" | "wrapped_dek" | "attempt">;

/** One page of a listing. */
export interface FilePage {
  files: FileRecord[];
  next_cursor: string | null;
}

const NUMERIC = new Set(["size", "ciphertext_size", "attempt"]);

function fromHash(hash: Record<string, string>): FileRecord | undefined {
  if (!hash.id) return undefined;
  const record: Record<string, string | number> = {};
  for (const [field, value] of Object.entries(hash)) {
    record[field] = NUMERIC.has(field) ? Number(value) : value;
  }
  return record as unknown as FileRecord;
}

function toHash(fields: Partial<FileRecord>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]),
  );
}

/** Strips internal fields from a record for API responses. */
export function publicRecord(record: FileRecord): PublicFileRecord {
  const { owner: _owner, kid: _kid, wrapped_dek: _dek, attempt: _attempt, ...visible } = record;
  return visible;
}

/**
 * Index members sort by creation time then id (all scores 0, ordered by
 * ZRANGEBYLEX), so a page boundary is exact even when files share a millisecond.
 */
function indexMember(record: Pick<FileRecord, "created_at" | "id">): string {
  return `${String(Date.parse(record.created_at)).padStart(15, "0")}:${record.id}`;
}

/** The name index of one owner and display name (the name hashed: keys stay short). */
function nameKey(owner: string, name: string): string {
  return `names:${owner}:${createHash("sha256").update(name).digest("base64url")}`;
}

/** Set once an owner's name index holds their older files too (records from before it existed). */
const nameIndexBuiltKey = (owner: string) => `names_built:${owner}`;

// KEYS: record, owner index, name index. ARGV: member, max files (0: no limit), stored (1/0), fields…
const CREATE = `
local max = tonumber(ARGV[2])
if max > 0 and redis.call('ZCARD', KEYS[2]) >= max then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if ARGV[3] == '1' then redis.call('ZADD', KEYS[3], 0, ARGV[1]) end
return 1`;

// KEYS: record, name index. ARGV: member, fields…
const UPDATE_STORED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1`;

const CURSOR = /^[0-9]{15}:[A-Za-z0-9_-]{1,64}$/;

function encodeCursor(member: string): string {
  return btoa(member).replaceAll("=", "");
}

function decodeCursor(cursor: string): string | undefined {
  try {
    const member = atob(cursor);
    return CURSOR.test(member) ? member : undefined;
  } catch {
    return undefined;
  }
}

/** File metadata over a Redis connection whose keys are already prefixed. */
export class FileStore {
  constructor(private readonly redis: Redis) {}

  /**
   * Saves a new record and indexes it under its owner (and its name, if stored).
   *
   * @param options `maxFiles`: refuse the record if the owner already has this many.
   * @returns False if the owner is at `maxFiles` (nothing saved).
   */
  async create(record: FileRecord, options: { maxFiles?: number } = {}): Promise<boolean> {
    const created = await this.redis.eval(
      CREATE,
      3,
      `file:${record.id}`,
      `files:${record.owner}`,
      nameKey(record.owner, record.name),
      indexMember(record),
      options.maxFiles ?? 0,
      record.status === "stored" ? 1 : 0,
      ...Object.entries(toHash(record)).flat(),
    );
    return created === 1;
  }

  /** How many files `owner` has (every status, 0-byte files too). */
  async count(owner: string): Promise<number> {
    return await this.redis.zcard(`files:${owner}`);
  }

  /** Restores a record from the bucket unless a record with that id exists. */
  async restore(record: FileRecord): Promise<boolean> {
    const created = await this.redis.hsetnx(`file:${record.id}`, "id", record.id);
    if (created === 0) return false;
    await this.create(record);
    return true;
  }

  /** The record, or `undefined`. */
  async get(id: string): Promise<FileRecord | undefined> {
    return fromHash(await this.redis.hgetall(`file:${id}`));
  }

  /** The record if `owner` owns it; another owner's file is indistinguishable from none. */
  async getOwned(owner: string, id: string): Promise<FileRecord | undefined> {
    const record = await this.get(id);
    return record?.owner === owner ? record : undefined;
  }

  /** Updates fields of an existing record; a deleted record stays deleted. */
  async update(id: string, fields: Partial<FileRecord>): Promise<boolean> {
    if (fields.status === "stored") return await this.#updateStored(id, fields);
    const script = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
      redis.call('HSET', KEYS[1], unpack(ARGV)) return 1`;
    const args = Object.entries(toHash(fields)).flat();
    if (args.length === 0) return true;
    return (await this.redis.eval(script, 1, `file:${id}`, ...args)) === 1;
  }

  /** Updates a record that has become `stored` and adds it to its name index, in one step. */
  async #updateStored(id: string, fields: Partial<FileRecord>): Promise<boolean> {
    const [owner, name, created] = fields.owner && fields.name !== undefined && fields.created_at
      ? [fields.owner, fields.name, fields.created_at]
      : await this.redis.hmget(`file:${id}`, "owner", "name", "created_at");
    if (!owner || name === null || !created) return false;
    const member = indexMember({ id, created_at: created });
    const args = Object.entries(toHash(fields)).flat();
    const updated = await this.redis.eval(
      UPDATE_STORED,
      2,
      `file:${id}`,
      nameKey(owner, name),
      member,
      ...args,
    );
    return updated === 1;
  }

  /**
   * Replaces a record's wrapped key (key rotation) only if it is still
   * `expected`: a record deleted or shredded meanwhile, or re-wrapped by
   * another run, is left alone.
   *
   * @returns True if the key was replaced.
   */
  async replaceWrappedKey(
    id: string,
    expected: string,
    next: Pick<FileRecord, "kid" | "wrapped_dek">,
  ): Promise<boolean> {
    const script = `if redis.call('HGET', KEYS[1], 'wrapped_dek') ~= ARGV[1] then return 0 end
      redis.call('HSET', KEYS[1], 'kid', ARGV[2], 'wrapped_dek', ARGV[3]) return 1`;
    const args = [expected, next.kid, next.wrapped_dek ?? ""];
    return (await this.redis.eval(script, 1, `file:${id}`, ...args)) === 1;
  }

  /** Removes fields (e.g. the wrapped key when shredding, or a stale error). */
  async clear(id: string, ...fields: (keyof FileRecord)[]): Promise<void> {
    if (fields.length > 0) await this.redis.hdel(`file:${id}`, ...fields);
  }

  /**
   * Marks a pending (`queued` or `encrypting`) file `failed` with a reason, in
   * one atomic step, so that only one of several racing callers (the
   * processor, the stalled-job handler, a delete) settles the file.
   *
   * @returns True if this call made the transition.
   */
  async failIfPending(id: string, reason: string): Promise<boolean> {
    const script = `local status = redis.call('HGET', KEYS[1], 'status')
      if status ~= 'queued' and status ~= 'encrypting' then return 0 end
      redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[1]) return 1`;
    return (await this.redis.eval(script, 1, `file:${id}`, reason)) === 1;
  }

  /**
   * Puts a file whose attempt was interrupted (its worker died: the job
   * stalled) back to `queued` with the next attempt number — only if that
   * attempt is still the one the record shows, so a worker that has already
   * taken the job up again is not overwritten.
   *
   * @param attempt The number of the attempt that was interrupted.
   * @returns True if the record was changed.
   */
  async requeueInterrupted(id: string, attempt: number, reason: string): Promise<boolean> {
    const script = `if redis.call('HGET', KEYS[1], 'status') ~= 'encrypting' then return 0 end
      if tonumber(redis.call('HGET', KEYS[1], 'attempt') or '1') ~= tonumber(ARGV[1]) then return 0 end
      redis.call('HSET', KEYS[1], 'status', 'queued', 'attempt', ARGV[1] + 1, 'error', ARGV[2])
      return 1`;
    return (await this.redis.eval(script, 1, `file:${id}`, attempt, reason)) === 1;
  }

  /**
   * Deletes the record and its index entry atomically.
   *
   * @returns The status the record had when it was deleted, or `undefined` if
   *   it was already gone (so the caller releases quota exactly once).
   */
  async delete(record: FileRecord): Promise<FileStatus | undefined> {
    const script = `local status = redis.call('HGET', KEYS[1], 'status')
      redis.call('DEL', KEYS[1]) redis.call('ZREM', KEYS[2], ARGV[1])
      redis.call('ZREM', KEYS[3], ARGV[1]) return status`;
    const status = await this.redis.eval(
      script,
      3,
      `file:${record.id}`,
      `files:${record.owner}`,
      nameKey(record.owner, record.name),
      indexMember(record),
    );
    return (status ?? undefined) as FileStatus | undefined;
  }

  /**
   * Lists an owner's files, newest first.
   *
   * @param limit Page size (1–200).
   * @param cursor The `next_cursor` of the previous page.
   */
  async list(owner: string, limit: number, cursor?: string): Promise<FilePage> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    if (cursor !== undefined && after === undefined) {
      throw new CofferError("VALIDATION_FAILED", "cursor: not a cursor from this API");
    }
    const members = await this.redis.zrevrangebylex(
      `files:${owner}`,
      after ? `(${after}` : "+",
      "-",
      "LIMIT",
      0,
      limit + 1,
    );
    const page = members.slice(0, limit);
    const records = await Promise.all(page.map((member) => this.get(member.slice(16))));
    return {
      files: records.filter((r): r is FileRecord => r !== undefined),
      next_cursor: members.length > limit ? encodeCursor(page[page.length - 1]) : null,
    };
  }

  /**
   * The owner's newest `stored` file with exactly this display name, from
   * the name index. An entry whose record is gone or changed (a delete that
   * raced the index's first build) is dropped as it is met.
   */
  async findNewestStored(owner: string, name: string): Promise<FileRecord | undefined> {
    await this.#buildNameIndex(owner);
    const key = nameKey(owner, name);
    let before = "+";
    while (true) {
      const members = await this.redis.zrevrangebylex(key, before, "-", "LIMIT", 0, 20);
      for (const member of members) {
        const record = await this.get(member.slice(16));
        if (record?.owner === owner && record.name === name && record.status === "stored") {
          return record;
        }
        await this.redis.zrem(key, member);
      }
      if (members.length < 20) return undefined;
      before = `(${members[members.length - 1]}`;
    }
  }

  /**
   * Adds an owner's stored files to the name index once: records written
   * before the index existed have no entry. Later records are indexed as
   * they are stored, and `deno task reindex` restores through `create`.
   */
  async #buildNameIndex(owner: string): Promise<void> {
    if (await this.redis.exists(nameIndexBuiltKey(owner))) return;
    let cursor: string | undefined;
    do {
      const page = await this.list(owner, 200, cursor);
      const pipeline = this.redis.pipeline();
      for (const file of page.files) {
        if (file.status === "stored") {
          pipeline.zadd(nameKey(owner, file.name), 0, indexMember(file));
        }
      }
      await pipeline.exec();
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    await this.redis.set(nameIndexBuiltKey(owner), "1");
  }

  /** Every record (admin tasks: key rotation). */
  async *all(): AsyncIterable<FileRecord> {
    const prefix = this.redis.options.keyPrefix ?? "";
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", `${prefix}file:*`, "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        const record = await this.get(key.slice(prefix.length + "file:".length));
        if (record) yield record;
      }
    } while (cursor !== "0");
  }
}
