/**
 * Coffer's settings: every environment variable the service reads, parsed and
 * validated once at start-up into a typed {@linkcode Config}. Nothing else in
 * the codebase reads the environment; the config object is passed down.
 *
 * A bad value stops start-up with one {@linkcode ConfigError} that names every
 * bad variable, so an operator fixes them all in one go.
 */
import proxyaddr from "@fastify/proxy-addr";
import { z } from "zod";
import { ENGINE_CHOICES, type EngineChoice } from "./crypto_engine.ts";

/** A KEK from `COFFER_MASTER_KEYS`: key id and 32 raw key bytes. */
export interface MasterKeySpec {
  kid: string;
  key: Uint8Array;
}

/** Validated settings. Optional fields are absent when the variable is unset. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  redisUrl?: string;
  /** Prefix for every Redis key and BullMQ queue; lets tests share one Redis. */
  redisPrefix: string;
  s3?: {
    endpoint?: string;
    bucket: string;
    region: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    /**
     * How long one S3 request may go without a byte moving either way
     * (`COFFER_S3_TIMEOUT_MS`, default 30000) before it is cut and retried:
     * the connection, the wait for an answer, and every pause inside a
     * streamed body. A download that keeps moving is never cut, however long.
     * Absent means the default (config.ts always sets it).
     */
    timeoutMs?: number;
  };
  masterKeys?: MasterKeySpec[];
  jwtSecret?: Uint8Array;
  tokenTtlSeconds: number;
  /**
   * Lifetime of a refresh token (`COFFER_REFRESH_TTL`, default 14 days). Each
   * refresh hands out a new one with the full lifetime, so a session lasts
   * while it is used at least this often (section 11).
   */
  refreshTtlSeconds: number;
  /** How long a download ticket may take to be started (`COFFER_TICKET_TTL`, default 60). */
  ticketTtlSeconds: number;
  maxFileBytes: number;
  quotaBytes: number;
  workerConcurrency: number;
  /**
   * How long a worker's lock on a job lasts without renewal (`COFFER_JOB_LOCK_MS`,
   * default 30000): a job whose worker died is handed to another worker about
   * this long after the last renewal. Tests shorten it to exercise crash recovery.
   */
  jobLockMs: number;
  /**
   * First retry delay of a failed upload job (`COFFER_JOB_BACKOFF_MS`, default
   * 1000); each later retry waits twice as long (8 attempts in all).
   */
  jobBackoffMs: number;
  /**
   * Seconds an upload body may go without a byte before it is cut and its
   * staging removed (`COFFER_BODY_IDLE_SECONDS`, default 60).
   */
  bodyIdleSeconds: number;
  /**
   * Uploads one user may have in progress at once, across every API process
   * (`COFFER_MAX_CONCURRENT_UPLOADS`, default 8); the next one answers 429.
   */
  maxConcurrentUploads: number;
  /**
   * Seconds an upload's slot and quota reservation outlive their holder's
   * last refresh (`COFFER_UPLOAD_SLOT_TTL_SECONDS`, default 60, at least 2):
   * those of an API process that died are freed at most this long after it
   * died. A live holder refreshes them every third of this, so a value below
   * the longest stall of an API's event loop lets a live upload lose its
   * reservation (it is then kept only if it still fits the quota). Tests
   * shorten it.
   */
  uploadSlotTtlSeconds: number;
  /** Files one user may keep, 0-byte files included (`COFFER_MAX_FILES`, default 100000). */
  maxFiles: number;
  /**
   * Seconds a resumable (tus) upload may go without progress before it
   * expires and the janitor frees its staged bytes and quota
   * (`COFFER_UPLOAD_EXPIRY`, default 86400: 24 h).
   */
  uploadExpirySeconds: number;
  metricsToken?: string;
  /**
   * Port on which a worker-only process serves `/healthz`, `/readyz` and
   * `/metrics` (`COFFER_WORKER_PORT`); unset means no listener.
   */
  workerPort?: number;
  /**
   * The operator's reverse proxies (`COFFER_TRUSTED_PROXIES`): addresses,
   * CIDR ranges or `loopback`/`linklocal`/`uniquelocal`. Only requests from
   * these may name the client in `X-Forwarded-For` (for rate limits).
   */
  trustedProxies?: string[];
  /** `COFFER_CRYPTO_ENGINE`: which AES-GCM engine to use (see crypto_engine.ts). */
  cryptoEngine: EngineChoice;
  /** `COFFER_LIBCRYPTO`: the libcrypto 3 file; unset means the usual locations. */
  libcrypto?: string;
  /**
   * Longest lifetime of a share link or file request in seconds
   * (`COFFER_SHARE_MAX_TTL`, default 90 days); a longer `expires_in` is refused.
   */
  shareMaxTtlSeconds: number;
}

/** Thrown when one or more environment variables are invalid. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

const KID = /^[A-Za-z0-9_.-]{1,64}$/;

function decodeBase64(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** Parses `kid:base64key[,kid:base64key…]`; every key must be 32 bytes and every kid unique. */
export function parseMasterKeys(text: string): MasterKeySpec[] {
  const keys = text.split(",").map((entry) => {
    const colon = entry.indexOf(":");
    const kid = entry.slice(0, colon).trim();
    const key = decodeBase64(entry.slice(colon + 1).trim());
    if (colon < 1 || !KID.test(kid) || key?.length !== 32) {
      throw new Error("expected kid:base64key entries with 32-byte keys");
    }
    return { kid, key };
  });
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) {
    throw new Error("key ids must be unique");
  }
  return keys;
}

const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string().trim().regex(/^\d+$/, "expected a whole number").transform(Number).pipe(
    z.number().int().min(min).max(max),
  );

const optionalText = z.string().trim().min(1).optional();

/** Default of `COFFER_S3_TIMEOUT_MS`. */
export const S3_TIMEOUT_DEFAULT_MS = 30_000;

const schema = z.object({
  HOST: z.string().trim().min(1).default("127.0.0.1"),
  PORT: integer(0, 65535).default(8080),
  COFFER_DATA_DIR: z.string().trim().min(1).default("./data"),
  REDIS_URL: z.string().trim().regex(/^rediss?:\/\//, "expected redis:// or rediss://").optional(),
  COFFER_REDIS_PREFIX: z.string().trim().regex(/^[A-Za-z0-9_.-]{1,64}$/).default("coffer"),
  S3_ENDPOINT: z.url().optional(),
  S3_BUCKET: z.string().trim().regex(
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    "expected a valid S3 bucket name",
  ).optional(),
  S3_REGION: z.string().trim().min(1).default("us-east-1"),
  COFFER_S3_TIMEOUT_MS: integer(100, 600_000).default(S3_TIMEOUT_DEFAULT_MS),
  AWS_ACCESS_KEY_ID: optionalText,
  AWS_SECRET_ACCESS_KEY: optionalText,
  COFFER_MASTER_KEYS: z.string().trim().min(1).optional().transform((text, ctx) => {
    if (text === undefined) return undefined;
    try {
      return parseMasterKeys(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  }),
  COFFER_JWT_SECRET: z.string().min(32, "expected at least 32 bytes").optional(),
  COFFER_TOKEN_TTL: integer(30, 30 * 24 * 3600).default(3600),
  COFFER_REFRESH_TTL: integer(60, 365 * 24 * 3600).default(14 * 24 * 3600),
  COFFER_TICKET_TTL: integer(5, 3600).default(60),
  COFFER_MAX_FILE_BYTES: integer(1).default(10737418240),
  COFFER_QUOTA_BYTES: integer(0).default(53687091200),
  COFFER_WORKER_CONCURRENCY: integer(1, 64).default(2),
  COFFER_JOB_LOCK_MS: integer(1000, 3_600_000).default(30_000),
  COFFER_JOB_BACKOFF_MS: integer(1, 3_600_000).default(1000),
  COFFER_BODY_IDLE_SECONDS: integer(1, 3600).default(60),
  COFFER_MAX_CONCURRENT_UPLOADS: integer(1, 1000).default(8),
  COFFER_UPLOAD_SLOT_TTL_SECONDS: integer(2, 3600).default(60),
  COFFER_MAX_FILES: integer(1).default(100_000),
  COFFER_UPLOAD_EXPIRY: integer(1, 90 * 24 * 3600).default(86_400),
  COFFER_METRICS_TOKEN: optionalText,
  COFFER_WORKER_PORT: integer(0, 65535).optional(),
  COFFER_TRUSTED_PROXIES: z.string().trim().min(1).optional().transform((text, ctx) => {
    if (text === undefined) return undefined;
    const proxies = text.split(",").map((entry) => entry.trim()).filter((entry) => entry);
    try {
      proxyaddr.compile(proxies); // what auth/client_address.ts will use them with
    } catch (error) {
      ctx.addIssue({
        code: "custom",
        message: `expected addresses or CIDR ranges (${(error as Error).message})`,
      });
      return z.NEVER;
    }
    return proxies;
  }),
  COFFER_CRYPTO_ENGINE: z.enum(ENGINE_CHOICES).default("auto"),
  COFFER_LIBCRYPTO: optionalText,
  COFFER_SHARE_MAX_TTL: integer(60, 10 * 365 * 24 * 3600).default(90 * 24 * 3600),
});

/** Every environment variable Coffer reads (the README's configuration table lists each). */
export const SETTING_NAMES: readonly string[] = Object.keys(schema.shape);

/**
 * Reads and validates every setting.
 *
 * @param env The environment, e.g. `Deno.env.toObject()`.
 * @returns The validated configuration.
 * @throws {ConfigError} naming every invalid variable (never echoing a secret value).
 * @example
 * ```ts
 * const config = loadConfig({ PORT: "9000" });
 * console.log(config.port); // 9000
 * ```
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input = Object.fromEntries(
    SETTING_NAMES.map((name) => [name, env[name] === "" ? undefined : env[name]]),
  );
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      `${issue.path.join(".")}: ${issue.message}`
    );
    throw new ConfigError([...new Set(problems)]);
  }
  const v = parsed.data;
  const useS3 = v.S3_BUCKET !== undefined || v.S3_ENDPOINT !== undefined;
  return {
    host: v.HOST,
    port: v.PORT,
    dataDir: v.COFFER_DATA_DIR,
    redisUrl: v.REDIS_URL,
    redisPrefix: v.COFFER_REDIS_PREFIX,
    s3: useS3
      ? {
        endpoint: v.S3_ENDPOINT,
        bucket: v.S3_BUCKET ?? "coffer",
        region: v.S3_REGION,
        accessKeyId: v.AWS_ACCESS_KEY_ID,
        secretAccessKey: v.AWS_SECRET_ACCESS_KEY,
        timeoutMs: v.COFFER_S3_TIMEOUT_MS,
      }
      : undefined,
    masterKeys: v.COFFER_MASTER_KEYS,
    jwtSecret: v.COFFER_JWT_SECRET === undefined
      ? undefined
      : new TextEncoder().encode(v.COFFER_JWT_SECRET),
    tokenTtlSeconds: v.COFFER_TOKEN_TTL,
    refreshTtlSeconds: v.COFFER_REFRESH_TTL,
    ticketTtlSeconds: v.COFFER_TICKET_TTL,
    maxFileBytes: v.COFFER_MAX_FILE_BYTES,
    quotaBytes: v.COFFER_QUOTA_BYTES,
    workerConcurrency: v.COFFER_WORKER_CONCURRENCY,
    jobLockMs: v.COFFER_JOB_LOCK_MS,
    jobBackoffMs: v.COFFER_JOB_BACKOFF_MS,
    bodyIdleSeconds: v.COFFER_BODY_IDLE_SECONDS,
    maxConcurrentUploads: v.COFFER_MAX_CONCURRENT_UPLOADS,
    uploadSlotTtlSeconds: v.COFFER_UPLOAD_SLOT_TTL_SECONDS,
    maxFiles: v.COFFER_MAX_FILES,
    uploadExpirySeconds: v.COFFER_UPLOAD_EXPIRY,
    metricsToken: v.COFFER_METRICS_TOKEN,
    workerPort: v.COFFER_WORKER_PORT,
    trustedProxies: v.COFFER_TRUSTED_PROXIES,
    cryptoEngine: v.COFFER_CRYPTO_ENGINE,
    libcrypto: v.COFFER_LIBCRYPTO,
    shareMaxTtlSeconds: v.COFFER_SHARE_MAX_TTL,
  };
}
