/**
 * `GET /metrics` in Prometheus text format. Queue depth and staging bytes are
 * sampled when scraped; everything else is counted as it happens.
 *
 * Who may scrape: when `COFFER_METRICS_TOKEN` is set, whoever sends it as a
 * bearer token (compared in constant time), from anywhere. When it is unset,
 * only a loopback peer whose request was not relayed: the series reveal
 * traffic, users' activity and queue state, so they are not public by
 * default. A request carrying `X-Forwarded-For` or `Forwarded` is refused
 * even from loopback, because a reverse proxy on the same host relays remote
 * clients from a loopback address.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import proxyaddr from "@fastify/proxy-addr";
import type { Context } from "hono";
import { timingSafeEqual } from "node:crypto";
import { peerAddress } from "../auth/client_address.ts";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { problem } from "./openapi.ts";

const isLoopback = proxyaddr.compile("loopback");

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = new TextEncoder().encode(header?.startsWith("Bearer ") ? header.slice(7) : "");
  const expected = new TextEncoder().encode(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether the request comes straight from this host (a loopback peer, not relayed). */
function isLocalRequest(c: Context): boolean {
  const peer = peerAddress(c);
  if (peer === undefined || !isLoopback(peer, 0)) return false;
  return c.req.header("X-Forwarded-For") === undefined && c.req.header("Forwarded") === undefined;
}

/**
 * Refuses a scrape that is not allowed.
 *
 * @throws {CofferError} `UNAUTHORIZED` (with a bearer challenge) when a token
 *   is configured and missing or wrong; `FORBIDDEN` when none is configured
 *   and the request is not local.
 */
function checkScraper(c: Context, metricsToken: string | undefined): void {
  if (metricsToken !== undefined) {
    if (tokenMatches(c.req.header("Authorization"), metricsToken)) return;
    throw new CofferError("UNAUTHORIZED", undefined, {
      headers: { "WWW-Authenticate": 'Bearer realm="metrics"' },
    });
  }
  if (!isLocalRequest(c)) {
    throw new CofferError(
      "FORBIDDEN",
      "Without COFFER_METRICS_TOKEN, /metrics answers requests from this host only",
    );
  }
}

async function sampleGauges(services: Services): Promise<void> {
  const { metrics, queue, redis, staging } = services;
  // Without Redis the queue gauges keep their last value rather than hang the scrape.
  if (redis.status === "ready") {
    const counts = await queue.getJobCounts("waiting", "active", "delayed", "failed", "completed");
    for (const [state, count] of Object.entries(counts)) metrics.queueJobs.set({ state }, count);
  }
  const staged = await staging.list();
  metrics.stagingBytes.set(staged.reduce((sum, file) => sum + file.size, 0));
}

// Declared for /openapi.json only; the handler answers plain text without validation.
const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  summary:
    "Prometheus metrics (a bearer token when COFFER_METRICS_TOKEN is set; else loopback only)",
  responses: {
    200: {
      description: "Metrics in the Prometheus text exposition format",
      content: { "text/plain": { schema: z.string() } },
    },
    401: problem("COFFER_METRICS_TOKEN is set and the request does not carry it"),
    403: problem("COFFER_METRICS_TOKEN is unset and the request is not from this host"),
  },
});

/** The metrics route. */
export function metricsRoutes(services: Services): OpenAPIHono {
  const { config, metrics } = services;
  const router = new OpenAPIHono();
  router.openAPIRegistry.registerPath(metricsRoute);
  router.get("/metrics", async (c) => {
    checkScraper(c, config.metricsToken);
    await sampleGauges(services);
    c.header("Content-Type", metrics.registry.contentType);
    c.header("Cache-Control", "no-store");
    return c.body(await metrics.registry.metrics());
  });
  return router;
}
