/**
 * Liveness and readiness. `/healthz` answers while the process is alive;
 * `/readyz` asks every dependency (Redis, the object store) and answers 503
 * with a problem body naming what is down.
 */
import { Hono } from "hono";
import { CofferError } from "../errors.ts";
import { problemResponse } from "./problem.ts";

/** A named dependency check; resolves when the dependency answers. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<unknown>;
}

const CHECK_TIMEOUT_MS = 2000;

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
export function healthRoutes(checks: ReadinessCheck[]): Hono {
  return new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", async (c) => {
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
}
