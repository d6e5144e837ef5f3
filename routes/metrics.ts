/**
 * `GET /metrics` in Prometheus text format. Queue depth and staging bytes are
 * sampled when scraped; everything else is counted as it happens. When
 * `COFFER_METRICS_TOKEN` is set the scraper must send it as a bearer token
 * (compared in constant time).
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { timingSafeEqual } from "node:crypto";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { problem } from "./openapi.ts";

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = new TextEncoder().encode(header?.startsWith("Bearer ") ? header.slice(7) : "");
  const expected = new TextEncoder().encode(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
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
  summary: "Prometheus metrics (a bearer token is required when COFFER_METRICS_TOKEN is set)",
  responses: {
    200: {
      description: "Metrics in the Prometheus text exposition format",
      content: { "text/plain": { schema: z.string() } },
    },
    401: problem("COFFER_METRICS_TOKEN is set and the request does not carry it"),
  },
});

/** The metrics route. */
export function metricsRoutes(services: Services): OpenAPIHono {
  const { config, metrics } = services;
  const router = new OpenAPIHono();
  router.openAPIRegistry.registerPath(metricsRoute);
  router.get("/metrics", async (c) => {
    if (config.metricsToken && !tokenMatches(c.req.header("Authorization"), config.metricsToken)) {
      throw new CofferError("UNAUTHORIZED", undefined, {
        headers: { "WWW-Authenticate": 'Bearer realm="metrics"' },
      });
    }
    await sampleGauges(services);
    c.header("Content-Type", metrics.registry.contentType);
    c.header("Cache-Control", "no-store");
    return c.body(await metrics.registry.metrics());
  });
  return router;
}
