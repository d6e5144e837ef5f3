/**
 * Builds the Hono application from opened {@linkcode Services}: middleware,
 * the one error handler, and every route group mounted under its path.
 * Protected groups are mounted behind `requireAuth`.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { requireAuth } from "./auth/middleware.ts";
import { proxiedClientAddress } from "./auth/client_address.ts";
import { authRoutes } from "./routes/auth.ts";
import type { Services } from "./services.ts";
import { compatRoutes } from "./routes/compat.ts";
import { docsRoutes } from "./routes/docs.ts";
import type { AppEnv } from "./routes/env.ts";
import { fileStatusRoutes } from "./routes/file_status.ts";
import { fileRoutes } from "./routes/files.ts";
import { healthRoutes } from "./routes/health.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { pageRoutes } from "./routes/page.ts";
import { publicRequestRoutes } from "./routes/public_requests.ts";
import { publicShareRoutes } from "./routes/public_shares.ts";
import { requestRoutes } from "./routes/requests.ts";
import { shareRoutes } from "./routes/shares.ts";
import { refreshRoutes } from "./routes/refresh.ts";
import { requestLogging, requireRedis, securityHeaders } from "./routes/middleware.ts";
import { createErrorHandler, handleNotFound } from "./routes/problem.ts";
import { ticketRoutes } from "./routes/tickets.ts";
import { tusRoutes } from "./routes/tus.ts";
import { uploadRoutes } from "./routes/uploads.ts";

/** Paths served only to a signed-in caller. */
const PROTECTED_PATHS = [
  "/api/files",
  "/api/files/*",
  "/api/shares",
  "/api/shares/*",
  "/api/requests",
  "/api/requests/*",
  "/api/uploads",
  "/api/uploads/*",
  "/upload",
  "/list_files",
  "/download/*",
  "/download_decrypted/*",
];

/**
 * The one path that accepts `?access_token=`: the event stream, because
 * `EventSource` cannot send an Authorization header.
 */
const QUERY_TOKEN_PATH = /^\/api\/files\/[^/]+\/events$/;

/** Paths whose handlers need Redis: every account, file and link route. */
const REDIS_PATHS = ["/api/*", "/generate_token", "/s/*", "/r/*", ...PROTECTED_PATHS];

/**
 * Creates the operations app: middleware, the error handler, `/healthz`,
 * `/readyz` and `/metrics`. A worker-only process serves just this.
 *
 * @param services Opened dependencies; the app does not close them.
 */
export function createOpsApp(services: Services): OpenAPIHono<AppEnv> {
  const { log, redis, store, metrics } = services;
  const app = new OpenAPIHono<AppEnv>();
  app.use(
    requestLogging(
      log,
      (route, method, status, ms) => metrics.observeRequest(route, method, status, ms),
    ),
  );
  app.use(securityHeaders);
  app.onError(createErrorHandler(log));
  app.notFound(handleNotFound);
  app.route(
    "/",
    healthRoutes([
      { name: "redis", check: () => redis.ping() },
      { name: `object store (${store.kind})`, check: () => store.ping() },
    ]),
  );
  app.route("/", metricsRoutes(services));
  return app;
}

/**
 * Creates the HTTP application: the operations routes, the page, the API
 * and its documentation.
 *
 * @param services Opened dependencies; the app does not close them.
 * @returns The app, ready for `Deno.serve(app.fetch)`.
 */
export function createApp(services: Services): OpenAPIHono<AppEnv> {
  const app = createOpsApp(services);
  app.route("/", pageRoutes());
  app.route("/", docsRoutes(app));
  const redisUp = requireRedis(services.redis);
  for (const path of REDIS_PATHS) app.use(path, redisUp);
  const { trustedProxies } = services.config;
  const clientAddress = trustedProxies ? proxiedClientAddress(trustedProxies) : undefined;
  app.route("/", authRoutes(services, { clientAddress }));
  app.route("/", publicShareRoutes(services, { clientAddress }));
  app.route("/", publicRequestRoutes(services, { clientAddress }));
  app.route("/", refreshRoutes(services, { clientAddress }));
  const auth = requireAuth(services, { queryTokenPath: QUERY_TOKEN_PATH });
  for (const path of PROTECTED_PATHS) app.use(path, auth);
  app.route("/", uploadRoutes(services));
  app.route("/", tusRoutes(services));
  app.route("/", fileStatusRoutes(services));
  app.route("/", fileRoutes(services));
  app.route("/", ticketRoutes(services));
  app.route("/", compatRoutes(services));
  const { files, shares, requests, log, metrics, config } = services;
  const maxTtlSeconds = config.shareMaxTtlSeconds;
  app.route("/", shareRoutes({ files, shares, log, metrics, maxTtlSeconds }));
  app.route(
    "/",
    requestRoutes({ requests, log, maxTtlSeconds, maxFileBytes: config.maxFileBytes }),
  );
  return app;
}
