/**
 * Redis connections. Coffer's own keys live under `<prefix>:` (ioredis
 * `keyPrefix`); BullMQ gets separate connections without a key prefix (it
 * refuses one) and uses `<prefix>:bull` as its own queue prefix instead.
 */
import { Redis, type RedisOptions } from "ioredis";

/** Options shared by every Coffer connection. */
function baseOptions(): RedisOptions {
  return { lazyConnect: false, enableAutoPipelining: true, connectionName: "coffer" };
}

/**
 * Opens the metadata connection: every key is written under `<prefix>:`.
 *
 * @param url A `redis://` URL.
 * @param prefix The deployment's key prefix (config `redisPrefix`).
 * @returns A connected ioredis client; the caller must `quit()` it.
 */
export function connectMetadataRedis(url: string, prefix: string): Redis {
  return quietly(new Redis(url, { ...baseOptions(), keyPrefix: `${prefix}:` }));
}

/**
 * Connection errors surface through the commands that fail (and /readyz);
 * without a listener ioredis prints every reconnect attempt to stderr.
 */
function quietly(redis: Redis): Redis {
  redis.on("error", () => {});
  return redis;
}

/**
 * Opens a connection for BullMQ (no key prefix; `maxRetriesPerRequest: null`
 * as BullMQ workers require).
 */
export function connectQueueRedis(url: string): Redis {
  return quietly(new Redis(url, { ...baseOptions(), maxRetriesPerRequest: null }));
}

/** The BullMQ prefix for a deployment prefix. */
export function queuePrefix(prefix: string): string {
  return `${prefix}:bull`;
}
