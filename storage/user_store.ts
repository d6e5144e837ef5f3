/**
 * User accounts in Redis, with a sealed backup of each in the object store.
 *
 * Redis layout (under the deployment prefix):
 *
 * ```
 * user:<id>          hash: id, username, password_hash, created_at, updated_at,
 *                          quota_bytes, used_bytes
 * username:<name>    string: the id owning that (lower-case) username
 * users              set: every user id (for list and reindex)
 * ```
 *
 * Every multi-key change runs as one Lua script, so a username is claimed
 * atomically (`SET NX`: of two concurrent registrations exactly one wins) and
 * quota reservations cannot overshoot. Each record is also written to
 * `users/<id>` in the object store, sealed under the active master key with
 * the label `user:<id>` (crypto/sealed.ts), so `deno task reindex` can restore
 * accounts from the bucket and the master keys alone. The backup leaves out
 * `used_bytes`: reindex recomputes it from the files.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import { type KeyRing, openBytes, sealBytes } from "../crypto/mod.ts";
import { CofferError } from "../errors.ts";
import { newId } from "./ids.ts";
import { userBackupKey } from "./object_keys.ts";
import type { ObjectStore } from "./object_store.ts";
import { collectBytes, SMALL_OBJECT_MAX_BYTES } from "./streams.ts";

/** A user account as stored. */
export interface UserRecord {
  /** Random, URL-safe (storage/ids.ts). */
  id: string;
  /** Lower-case, 3–64 of `[a-z0-9_.-]`, unique. */
  username: string;
  /** argon2id PHC string. */
  password_hash: string;
  /** ISO 8601. */
  created_at: string;
  /** ISO 8601; decides which copy wins on restore. */
  updated_at: string;
  quota_bytes: number;
  used_bytes: number;
}

/** What {@linkcode UserStore.create} needs. */
export interface NewUser {
  username: string;
  password_hash: string;
  quota_bytes: number;
}

/** The sealed backup of a record in the object store (JSON, version 1). */
export interface UserBackup extends Omit<UserRecord, "used_bytes"> {
  v: 1;
}

/** What {@linkcode UserStore.restore} did with a backup. */
export type RestoreOutcome =
  /** No such user was in Redis: created with `used_bytes` 0. */
  | "restored"
  /** The backup was newer than the Redis record: hash and quota taken from it. */
  | "updated"
  /** The Redis record was as new or newer: left alone. */
  | "kept"
  /** The username belongs to another id (or the id to another name): left alone. */
  | "conflict";

/** The username rule the store enforces. */
export const USERNAME_PATTERN = /^[a-z0-9_.-]{3,64}$/;

const BackupSchema = z.object({
  v: z.literal(1),
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  username: z.string().regex(USERNAME_PATTERN),
  password_hash: z.string().min(1).max(512),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  quota_bytes: z.number().int().nonnegative(),
});

const CREATE = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
redis.call('SADD', KEYS[3], ARGV[1])
return 1`;

// Removes a user; the username is released only if it still points at this id.
const REMOVE = `
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('SREM', KEYS[3], ARGV[1])
return redis.call('DEL', KEYS[1])`;

const ADJUST = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local used = redis.call('HINCRBY', KEYS[1], 'used_bytes', ARGV[1])
if used < 0 then
  used = 0
  redis.call('HSET', KEYS[1], 'used_bytes', 0)
end
return used`;

const SET_USED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'used_bytes', ARGV[1])
return 1`;

// ARGV: bytes, quota (negative: use the record's quota_bytes).
const RESERVE = `
local used = redis.call('HGET', KEYS[1], 'used_bytes')
if not used then return 0 end
local quota = tonumber(ARGV[2])
if quota < 0 then quota = tonumber(redis.call('HGET', KEYS[1], 'quota_bytes')) end
if tonumber(used) + tonumber(ARGV[1]) > quota then return 0 end
redis.call('HINCRBY', KEYS[1], 'used_bytes', ARGV[1])
return 1`;

// KEYS: user, username, users. ARGV: id, username, hash, created, updated, quota.
const RESTORE = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  local current = redis.call('HMGET', KEYS[1], 'username', 'updated_at')
  if current[1] ~= ARGV[2] then return 'conflict' end
  if current[2] and current[2] >= ARGV[5] then return 'kept' end
  redis.call('HSET', KEYS[1], 'password_hash', ARGV[3], 'updated_at', ARGV[5], 'quota_bytes', ARGV[6])
  return 'updated'
end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then return 'conflict' end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'username', ARGV[2], 'password_hash', ARGV[3],
  'created_at', ARGV[4], 'updated_at', ARGV[5], 'quota_bytes', ARGV[6], 'used_bytes', 0)
redis.call('SADD', KEYS[3], ARGV[1])
return 'restored'`;

const USERS_SET = "users";
/** The Redis key of an account hash (storage/upload_slots.ts reads its quota fields). */
export const userKey = (id: string) => `user:${id}`;
const usernameKey = (username: string) => `username:${username}`;
const sealLabel = (id: string) => `user:${id}`;

function fromHash(hash: Record<string, string>): UserRecord | undefined {
  if (!hash.id || !hash.username || !hash.password_hash) return undefined;
  return {
    id: hash.id,
    username: hash.username,
    password_hash: hash.password_hash,
    created_at: hash.created_at,
    updated_at: hash.updated_at ?? hash.created_at,
    quota_bytes: Number(hash.quota_bytes ?? 0),
    used_bytes: Number(hash.used_bytes ?? 0),
  };
}

function checkBytes(value: number, what: string, allowNegative = false): void {
  if (!Number.isSafeInteger(value) || (!allowNegative && value < 0)) {
    throw new RangeError(
      `Cannot use ${what} ${value}: expected a${allowNegative ? "n" : " non-negative"} integer`,
    );
  }
}

/**
 * Accounts over Redis plus sealed backups in the object store. Stateless
 * apart from its handles, so several instances over the same Redis agree.
 *
 * @example
 * ```ts
 * const users = new UserStore(redis, store, keyRing); // services.users in the service
 * const user = await users.create({ username: "alice", password_hash, quota_bytes: 1e9 });
 * if (!await users.reserveBytes(user.id, 4096)) throw new CofferError("QUOTA_EXCEEDED");
 * ```
 */
export class UserStore {
  /**
   * @param redis The metadata connection (keys under the deployment prefix).
   * @param store Where sealed backups go (`users/<id>`).
   * @param ring The master keys; backups are sealed under the active one.
   */
  constructor(
    private readonly redis: Redis,
    private readonly store: ObjectStore,
    private readonly ring: KeyRing,
  ) {}

  /**
   * Creates a user with a new id, claiming the username atomically, then
   * writes the sealed backup. If the backup cannot be written the user is
   * removed again and the error is rethrown.
   *
   * @returns The stored record (`used_bytes` 0).
   * @throws {CofferError} `USERNAME_TAKEN` if the username exists.
   * @throws {RangeError} if the username breaks {@linkcode USERNAME_PATTERN}.
   */
  async create(user: NewUser): Promise<UserRecord> {
    if (!USERNAME_PATTERN.test(user.username)) {
      throw new RangeError("Cannot create user: invalid username");
    }
    checkBytes(user.quota_bytes, "quota_bytes");
    const now = new Date().toISOString();
    const record: UserRecord = {
      id: newId(),
      username: user.username,
      password_hash: user.password_hash,
      created_at: now,
      updated_at: now,
      quota_bytes: user.quota_bytes,
      used_bytes: 0,
    };
    const fields = Object.entries(record).flatMap(([k, v]) => [k, String(v)]);
    const created = await this.redis.eval(
      CREATE,
      3,
      usernameKey(record.username),
      userKey(record.id),
      USERS_SET,
      record.id,
      ...fields,
    );
    if (created !== 1) throw new CofferError("USERNAME_TAKEN");
    try {
      await this.writeBackup(record);
    } catch (error) {
      await this.#remove(record);
      throw error;
    }
    return record;
  }

  /** Finds a user by id. */
  async findById(id: string): Promise<UserRecord | undefined> {
    return fromHash(await this.redis.hgetall(userKey(id)));
  }

  /** Finds a user by (already lower-cased) username. */
  async findByUsername(username: string): Promise<UserRecord | undefined> {
    const id = await this.redis.get(usernameKey(username));
    return id === null ? undefined : await this.findById(id);
  }

  /**
   * Adds `delta` (negative to release) to a user's used bytes, never below 0.
   *
   * @returns The new used bytes, or `undefined` if the user does not exist.
   */
  async adjustUsedBytes(id: string, delta: number): Promise<number | undefined> {
    checkBytes(delta, "delta", true);
    const used = await this.redis.eval(ADJUST, 1, userKey(id), delta);
    return typeof used === "number" ? used : undefined;
  }

  /**
   * Atomically adds `bytes` to a user's used bytes if that stays within the quota.
   *
   * @param quota The quota to check against; defaults to the record's `quota_bytes`.
   * @returns `true` if reserved; `false` if over quota or the user does not exist.
   */
  async reserveBytes(id: string, bytes: number, quota?: number): Promise<boolean> {
    checkBytes(bytes, "bytes");
    if (quota !== undefined) checkBytes(quota, "quota");
    return (await this.redis.eval(RESERVE, 1, userKey(id), bytes, quota ?? -1)) === 1;
  }

  /**
   * Sets a user's used bytes (reindex, after recomputing it from the files).
   *
   * @returns `false` if the user does not exist.
   */
  async setUsedBytes(id: string, bytes: number): Promise<boolean> {
    checkBytes(bytes, "bytes");
    return (await this.redis.eval(SET_USED, 1, userKey(id), bytes)) === 1;
  }

  /**
   * Deletes a user record, its username and its backup (not their files).
   *
   * @returns `false` if there was no such user.
   */
  async delete(id: string): Promise<boolean> {
    const record = await this.findById(id);
    if (!record) return false;
    await this.#remove(record);
    await this.store.delete(userBackupKey(id));
    return true;
  }

  /** Every user, in no particular order. */
  async *list(): AsyncIterable<UserRecord> {
    let cursor = "0";
    do {
      const [next, ids] = await this.redis.sscan(USERS_SET, cursor, "COUNT", 200);
      cursor = next;
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hgetall(userKey(id));
      for (const [error, hash] of (await pipeline.exec()) ?? []) {
        if (error) throw error;
        const record = fromHash(hash as Record<string, string>);
        if (record) yield record;
      }
    } while (cursor !== "0");
  }

  /**
   * Restores a user from a backup (reindex). Never overwrites a record that
   * is as new or newer, never takes a username owned by another id, and keeps
   * the Redis `used_bytes` (a restored user starts at 0).
   *
   * @throws {TypeError} if the backup is malformed.
   */
  async restore(backup: UserBackup): Promise<RestoreOutcome> {
    const parsed = BackupSchema.safeParse(backup);
    if (!parsed.success) throw new TypeError("Cannot restore user: malformed backup");
    const b = parsed.data;
    return await this.redis.eval(
      RESTORE,
      3,
      userKey(b.id),
      usernameKey(b.username),
      USERS_SET,
      b.id,
      b.username,
      b.password_hash,
      b.created_at,
      b.updated_at,
      b.quota_bytes,
    ) as RestoreOutcome;
  }

  /**
   * Writes (or rewrites, e.g. after key rotation) the sealed backup of a
   * record under the active master key.
   */
  async writeBackup(record: UserRecord): Promise<void> {
    const { used_bytes: _used, ...rest } = record;
    const backup: UserBackup = { v: 1, ...rest };
    const sealed = await sealBytes(
      this.ring,
      new TextEncoder().encode(JSON.stringify(backup)),
      sealLabel(record.id),
    );
    await this.store.put(userBackupKey(record.id), ReadableStream.from([sealed]), {
      contentLength: sealed.length,
    });
  }

  /** Ids of every user that has a backup in the object store. */
  async *listBackupIds(): AsyncIterable<string> {
    const prefix = userBackupKey("");
    for await (const info of this.store.list(prefix)) yield info.key.slice(prefix.length);
  }

  /**
   * Reads and opens the backup of one user.
   *
   * @returns The backup, or `undefined` if there is none.
   * @throws {DecryptionError} if the blob was modified or moved from another user.
   * @throws {UnknownKeyError} if its master key is not configured.
   * @throws {TypeError} if it opens but is not a valid backup.
   */
  async readBackup(id: string): Promise<UserBackup | undefined> {
    const key = userBackupKey(id);
    if (!await this.store.head(key)) return undefined;
    const sealed = await collectBytes(await this.store.get(key), SMALL_OBJECT_MAX_BYTES);
    const plaintext = await openBytes(this.ring, sealed, sealLabel(id));
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(plaintext));
    } catch {
      json = undefined;
    }
    const parsed = BackupSchema.safeParse(json);
    if (!parsed.success || parsed.data.id !== id) {
      throw new TypeError(`Cannot read user backup ${id}: malformed record`);
    }
    return parsed.data;
  }

  async #remove(record: UserRecord): Promise<void> {
    await this.redis.eval(
      REMOVE,
      3,
      userKey(record.id),
      usernameKey(record.username),
      USERS_SET,
      record.id,
    );
  }
}
