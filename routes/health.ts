/**
 * Liveness and readiness. `/healthz` answers while the process is alive;
 * `/readyz` asks every dependency (Redis, the object store) and answers 503
 * with a problem body naming what is down.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { CofferError } from "../errors.ts";
import { problem } from "./openapi.ts";
import { problemResponse } from "./problem.ts";

/** A named dependency check; resolves when the dependency answers. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<unknown>;
}

const CHECK_TIMEOUT_MS = 2000;

// Declared for /openapi.json only; the handlers below answer without validation.
const livenessRoute = createRoute({
  method: "get",
  path: "/healthz",
  summary: "Liveness: the process is up",
  responses: {
    200: {
      description: "Alive",
      content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } },
    },
  },
});

const readinessRoute = createRoute({
  method: "get",
  path: "/readyz",
  summary: "Readiness: Redis and the object store answer",
  responses: {
    200: {
      description: "Every dependency answers",
      content: {
        "application/json": {
          schema: z.object({
            status: z.literal("ready"),
            checks: z.record(z.string(), z.boolean()),
          }),
        },
      },
    },
    503: problem("A dependency does not answer (named in the detail)"),
  },
});

async function isUp(probe: ReadinessCheck): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe.check(), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Creates the health routes.
 *
 * @param checks The dependencies `/readyz` asks.
 */
export function healthRoutes(checks: ReadinessCheck[]): OpenAPIHono {
  const router = new OpenAPIHono();
  router.openAPIRegistry.registerPath(livenessRoute);
  router.openAPIRegistry.registerPath(readinessRoute);
  router.get("/healthz", (c) => c.json({ status: "ok" }));
  router.get("/readyz", async (c) => {
    const results = await Promise.all(
      checks.map(async (probe) => [probe.name, await isUp(probe)]),
    );
    const down = results.filter(([, up]) => !up).map(([name]) => name);
    if (down.length > 0) {
      return problemResponse(
        new CofferError("SERVICE_UNAVAILABLE", `Not answering: ${down.join(", ")}`),
      );
    }
    return c.json({ status: "ready", checks: Object.fromEntries(results) });
  });
  return router;
}
