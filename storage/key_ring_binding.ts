/**
 * Binds a Redis prefix to the master keys it was created with, so that a
 * process configured with other keys (a second local instance on the quick
 * start's defaults, a copy-paste error in COFFER_MASTER_KEYS) refuses to
 * start instead of taking the deployment's jobs and failing them for good
 * ("data key cannot be unwrapped"), or letting its users sign in here.
 *
 * `<prefix>:keyring` is a Redis hash: key id → fingerprint
 * (storage/key_fingerprint.ts) of every master key a process has started
 * with on this prefix. A process **matches** when
 *
 * 1. at least one of its keys (by fingerprint) is already recorded, and
 * 2. none of its key ids is recorded for a different key.
 *
 * Its new keys are then recorded too. So rotation works: a new key put
 * first while the old one is kept shares the old key and starts (recording
 * the new one), and once the old key is removed the new one alone still
 * matches. A ring sharing no key with the prefix, or reusing a key id for
 * another key, does not. The first process on an empty prefix records its
 * keys. This is a guard against misconfiguration, not access control:
 * anyone who can write to Redis can change it.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { MasterKeySpec } from "../config.ts";
import { keyFingerprint } from "./key_fingerprint.ts";

/** The Redis hash (under the metadata connection's prefix) holding the binding. */
export const KEY_RING_BINDING_KEY = "keyring";

/**
 * Compares and records in one step, so that processes starting together
 * agree. ARGV holds kid, fingerprint pairs. Returns `{"created"}`,
 * `{"matched", added kids…}`, `{"foreign", recorded kids…}` or
 * `{"conflict", kid}`.
 */
const BIND_SCRIPT = `
local recorded = redis.call('HGETALL', KEYS[1])
if #recorded == 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV))
  return {'created'}
end
local byKid, known, kids = {}, {}, {}
for i = 1, #recorded, 2 do
  byKid[recorded[i]] = recorded[i + 1]
  known[recorded[i + 1]] = true
  kids[#kids + 1] = recorded[i]
end
local shared = false
for i = 1, #ARGV, 2 do
  local fingerprint = byKid[ARGV[i]]
  if fingerprint and fingerprint ~= ARGV[i + 1] then return {'conflict', ARGV[i]} end
  if known[ARGV[i + 1]] then shared = true end
end
if not shared then
  table.sort(kids)
  return {'foreign', unpack(kids)}
end
local added = {'matched'}
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then added[#added + 1] = ARGV[i] end
end
return added`;

/** The process's master keys do not match the ones its Redis prefix was created with. */
export class KeyRingMismatchError extends Error {
  constructor(readonly prefix: string, detail: string) {
    super(
      `Cannot start: the Redis prefix "${prefix}" (COFFER_REDIS_PREFIX) belongs to other ` +
        `master keys: ${detail}; start with this deployment's COFFER_MASTER_KEYS (a new key ` +
        `goes first, the old ones stay) or use another prefix`,
    );
    this.name = "KeyRingMismatchError";
  }
}

/** What {@linkcode bindPrefixToKeyRing} found. */
export interface KeyRingBinding {
  /** True when this process was the first on the prefix and recorded its keys. */
  created: boolean;
  /** Key ids recorded by this call (all of them when `created`). */
  added: string[];
}

/**
 * Records this process's master keys under the prefix, or checks them
 * against the recorded ones (see the module comment for what matches).
 *
 * @param redis The metadata connection (its keys under `<prefix>:`).
 * @param prefix The prefix, for the error message.
 * @param keys The configured master keys, active first.
 * @throws {KeyRingMismatchError} when the keys do not match, naming the prefix.
 */
export async function bindPrefixToKeyRing(
  redis: Redis,
  prefix: string,
  keys: readonly MasterKeySpec[],
): Promise<KeyRingBinding> {
  const pairs: string[] = [];
  for (const { kid, key } of keys) pairs.push(kid, await keyFingerprint(key));
  const [outcome, ...names] = await redis.eval(
    BIND_SCRIPT,
    1,
    KEY_RING_BINDING_KEY,
    ...pairs,
  ) as string[];
  if (outcome === "foreign") {
    throw new KeyRingMismatchError(
      prefix,
      `COFFER_MASTER_KEYS (${keys.map((k) => k.kid).join(", ")}) holds none of its keys ` +
        `(${names.join(", ")})`,
    );
  }
  if (outcome === "conflict") {
    throw new KeyRingMismatchError(
      prefix,
      `it knows key id ${JSON.stringify(names[0])} as a different key`,
    );
  }
  return outcome === "created"
    ? { created: true, added: keys.map((k) => k.kid) }
    : { created: false, added: names };
}
