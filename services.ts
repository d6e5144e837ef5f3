/**
 * Opens and closes everything a Coffer process depends on, in one place:
 * the crypto engine, Redis (found or embedded), the metadata connection, the
 * object store, the key ring, the metadata stores (users, files, share links,
 * file requests), the staging area, the resumable uploads, the upload queue and the
 * progress fan-out. Routes and workers receive the resulting
 * {@linkcode Services} and never construct backends themselves. Disposal
 * closes everything in reverse order.
 */
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "./config.ts";
import { type CryptoEngine, KeyRing } from "./crypto/mod.ts";
import { EngineUnavailableError, selectCryptoEngine } from "./crypto_engine.ts";
import type { Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { FileStore } from "./storage/file_store.ts";
import { loadSecrets, type Secrets } from "./storage/generated_secrets.ts";
import { bindPrefixToKeyRing } from "./storage/key_ring_binding.ts";
import type { ObjectStore } from "./storage/object_store.ts";
import { openObjectStore } from "./storage/open_object_store.ts";
import { connectMetadataRedis, connectQueueRedis } from "./storage/redis.ts";
import { RedisUnavailableError, resolveRedis } from "./storage/redis_server.ts";
import { LinkTickets } from "./storage/link_tickets.ts";
import { RequestStore } from "./storage/request_store.ts";
import { ShareStore } from "./storage/share_store.ts";
import { StagingArea } from "./storage/staging.ts";
import { UploadLocks } from "./storage/upload_lock.ts";
import { UploadSlots } from "./storage/upload_slots.ts";
import { RedisUploadStore, type UploadStore } from "./storage/upload_store.ts";
import { UserStore } from "./storage/user_store.ts";
import { ProgressHub } from "./workers/progress_hub.ts";
import { createUploadQueue, type UploadJobData } from "./workers/queue.ts";

/** How long start-up waits for a configured Redis to answer. */
const REDIS_CONNECT_TIMEOUT_MS = 5000;

async function answersWithin(redis: Redis, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError(redis.options.host)), ms);
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A dependency could not be opened at start-up (the data directory, the
 * object store); the message names it, the setting to check, and the cause.
 */
export class StartupError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = "StartupError";
  }
}

/**
 * Runs one start-up step, turning its failure into a {@linkcode StartupError}
 * whose message `explain` builds from the cause's.
 */
async function startupStep<T>(
  explain: (cause: string) => string,
  step: () => Promise<T>,
): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw new StartupError(explain(error instanceof Error ? error.message : String(error)), error);
  }
}

async function selectEngine(config: Config, log: Logger) {
  try {
    return await selectCryptoEngine(config, log);
  } catch (error) {
    if (error instanceof EngineUnavailableError) throw new StartupError(error.message, error);
    throw error;
  }
}

function dataDirProblem(config: Config): (cause: string) => string {
  return (cause) => `Cannot use the data directory ${config.dataDir} (COFFER_DATA_DIR): ${cause}`;
}

function objectStoreProblem(config: Config): (cause: string) => string {
  return config.s3
    ? (cause) => `${cause} (check S3_ENDPOINT, S3_BUCKET and the AWS credentials)`
    : (cause) => `Cannot open the local object store in ${config.dataDir}: ${cause}`;
}

/**
 * Refuses to start when the master keys are not the ones the Redis prefix
 * was created with (storage/key_ring_binding.ts): the error is one line
 * naming the prefix.
 */
async function bindKeyRing(redis: Redis, config: Config, secrets: Secrets, log: Logger) {
  const binding = await startupStep(
    (cause) => cause,
    () => bindPrefixToKeyRing(redis, config.redisPrefix, secrets.masterKeys),
  );
  if (binding.added.length > 0) {
    log.info("key_ring.recorded", { prefix: config.redisPrefix, kids: binding.added.join(",") });
  }
}

/** Everything routes and workers use. */
export interface Services extends AsyncDisposable {
  config: Config;
  log: Logger;
  /** The Redis URL in use (configured, default or embedded). */
  redisUrl: string;
  /** Metadata connection; keys under `<redisPrefix>:`. */
  redis: Redis;
  store: ObjectStore;
  secrets: Secrets;
  /** The AES-GCM engine every stream and decryptor of this process uses. */
  engine: CryptoEngine;
  keyRing: KeyRing;
  users: UserStore;
  files: FileStore;
  /** Share links (routes/shares.ts, routes/public_shares.ts). */
  shares: ShareStore;
  /** File requests (routes/requests.ts, routes/public_requests.ts). */
  requests: RequestStore;
  /** Unlock tickets of password-protected links. */
  linkTickets: LinkTickets;
  staging: StagingArea;
  /** Per-user uploads in progress and their quota reservations. */
  uploadSlots: UploadSlots;
  /** Resumable (tus) uploads in progress, and the lock each request takes on one. */
  uploads: UploadStore;
  uploadLocks: UploadLocks;
  queue: Queue<UploadJobData>;
  progress: ProgressHub;
  metrics: Metrics;
}

/**
 * Opens every dependency. On failure, whatever was already opened is closed.
 *
 * @throws {RedisUnavailableError} when no Redis can be found or started.
 * @throws {StartupError} when the data directory or the object store cannot
 *   be used, `COFFER_CRYPTO_ENGINE=openssl` cannot be loaded, or the master
 *   keys do not match the Redis prefix's.
 */
export async function openServices(config: Config, log: Logger): Promise<Services> {
  await using stack = new AsyncDisposableStack();
  const { engine } = stack.use(await selectEngine(config, log));
  const secrets = await startupStep(dataDirProblem(config), () => loadSecrets(config, log));
  const keyRing = await KeyRing.create(secrets.masterKeys, { engine });
  const resolved = stack.use(await resolveRedis(config.redisUrl, config.dataDir, log));
  const redis = connectMetadataRedis(resolved.url, config.redisPrefix);
  stack.defer(async () => {
    await redis.quit().catch(() => redis.disconnect());
  });
  await answersWithin(redis, REDIS_CONNECT_TIMEOUT_MS);
  await bindKeyRing(redis, config, secrets, log);
  const metrics = new Metrics();
  const store = await startupStep(
    objectStoreProblem(config),
    () =>
      openObjectStore(config, log, {
        onRetries: (operation, retries) => metrics.objectStoreRetries.inc({ operation }, retries),
      }),
  );
  stack.defer(() => store.close());
  const queueConnection = connectQueueRedis(resolved.url);
  stack.defer(async () => {
    await queueConnection.quit().catch(() => queueConnection.disconnect());
  });
  const queue = createUploadQueue(queueConnection, config.redisPrefix, config.jobBackoffMs);
  stack.defer(() => queue.close());
  const progress = stack.use(new ProgressHub(resolved.url, config.redisPrefix));
  const owned = stack.move();
  return {
    config,
    log,
    redisUrl: resolved.url,
    redis,
    store,
    secrets,
    engine,
    keyRing,
    users: new UserStore(redis, store, keyRing),
    files: new FileStore(redis),
    shares: new ShareStore(redis),
    requests: new RequestStore(redis),
    linkTickets: new LinkTickets(redis),
    staging: await startupStep(dataDirProblem(config), () => StagingArea.create(config.dataDir)),
    uploadSlots: new UploadSlots(redis, {
      limit: config.maxConcurrentUploads,
      ttlMs: config.uploadSlotTtlSeconds * 1000,
    }),
    uploads: new RedisUploadStore(redis),
    uploadLocks: new UploadLocks(redis),
    queue,
    progress,
    metrics,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}
