/**
 * Runs the API role, the worker role, or both, until a stop signal; then
 * shuts down in order: stop accepting HTTP, close the worker (running jobs
 * are finished or handed back), close services (Redis, embedded
 * redis-server). Open HTTP connections get {@linkcode SHUTDOWN_GRACE_MS}.
 */
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { createApp, createOpsApp } from "./app.ts";
import { type GuardedServer, serveWithHeaderDeadline } from "./header_deadline.ts";
import { openServices, type Services } from "./services.ts";
import { startJanitor } from "./workers/janitor.ts";
import { startUploadWorker } from "./workers/upload_worker.ts";

/** A process role. */
export type Role = "api" | "worker";

/** How long graceful shutdown waits for open HTTP connections. */
export const SHUTDOWN_GRACE_MS = 5000;

/** The process cannot listen where it was told to (port taken, address not local, …). */
export class ListenError extends Error {
  constructor(address: string, cause: unknown) {
    const reason = cause instanceof Deno.errors.AddrInUse
      ? "the address is already in use (another Coffer? set PORT)"
      : cause instanceof Deno.errors.PermissionDenied
      ? "permission denied (ports below 1024 need privileges; set PORT)"
      : cause instanceof Deno.errors.AddrNotAvailable
      ? "the address is not on this machine (set HOST)"
      : String((cause as Error)?.message ?? cause);
    super(`Cannot listen on ${address}: ${reason}`, { cause });
    this.name = "ListenError";
  }
}

function serve(
  services: Services,
  port: number,
  fetch: (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>,
): AsyncDisposable {
  const { config, log } = services;
  let server: GuardedServer;
  try {
    server = serveWithHeaderDeadline({
      hostname: config.host,
      port,
      onListen: ({ hostname, port }) =>
        log.info("api.listening", { url: `http://${hostname}:${port}` }),
    }, fetch);
  } catch (error) {
    throw new ListenError(`${config.host}:${port}`, error);
  }
  return {
    [Symbol.asyncDispose]: async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_GRACE_MS);
      });
      await Promise.race([server.shutdown(), grace]);
      clearTimeout(timer);
    },
  };
}

/** Warns unless Redis refuses to evict keys (evicted job keys lose uploads). */
async function checkEvictionPolicy(services: Services): Promise<void> {
  try {
    const [, policy] = await services.redis.config("GET", "maxmemory-policy") as string[];
    if (policy !== "noeviction") {
      services.log.warn("redis.eviction_policy", {
        policy,
        advice: "set maxmemory-policy noeviction: evicted keys lose queued uploads",
      });
    }
  } catch {
    services.log.warn("redis.eviction_policy", { policy: "unknown (CONFIG GET refused)" });
  }
}

/** Starts the upload worker and the janitor. */
export async function startWorkerRole(services: Services): Promise<AsyncDisposable> {
  const { config, log, metrics } = services;
  await checkEvictionPolicy(services);
  const stack = new AsyncDisposableStack();
  stack.use(startJanitor(services));
  stack.use(startUploadWorker({
    files: services.files,
    store: services.store,
    staging: services.staging,
    keyRing: services.keyRing,
    engine: services.engine,
    log,
    metrics,
    releaseBytes: async (owner, bytes) => {
      await services.users.adjustUsedBytes(owner, -bytes);
    },
  }, {
    redisUrl: services.redisUrl,
    redisPrefix: config.redisPrefix,
    concurrency: config.workerConcurrency,
    lockDurationMs: config.jobLockMs,
    log,
  }));
  return stack;
}

/**
 * Runs the given roles until `signal` aborts, then shuts down gracefully.
 *
 * @param roles Which roles this process runs.
 * @param config The validated configuration.
 * @param log The process logger.
 * @param signal Aborted on SIGINT/SIGTERM.
 */
export async function runRoles(
  roles: Role[],
  config: Config,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  await using services = await openServices(config, log);
  await using stack = new AsyncDisposableStack();
  if (roles.includes("worker")) stack.use(await startWorkerRole(services));
  if (roles.includes("api")) {
    stack.use(serve(services, config.port, createApp(services).fetch));
  } else if (config.workerPort !== undefined) {
    // A worker-only process still answers health checks and scrapes.
    stack.use(serve(services, config.workerPort, createOpsApp(services).fetch));
  }
  log.info("process.started", { roles: roles.join(","), object_store: services.store.kind });
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  log.info("process.stopping", {});
}
