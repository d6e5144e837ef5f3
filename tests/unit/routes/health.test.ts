/**
 * Liveness and readiness answers, and the one error handler that turns typed
 * errors into RFC 9457 problems and hides everything else.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { healthRoutes } from "../../../routes/health.ts";
import { createErrorHandler } from "../../../routes/problem.ts";
import { CofferError } from "../../../errors.ts";
import { createLogger } from "../../../log.ts";

Deno.test("GET /readyz answers 503 naming the dependency that is down", async () => {
  const app = healthRoutes([
    { name: "redis", check: () => Promise.resolve() },
    { name: "object store (s3)", check: () => Promise.reject(new Error("connection refused")) },
  ]);
  const response = await app.request("/readyz");
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  const body = await response.json();
  assert.equal(body.status, 503);
  assert.match(body.detail, /object store \(s3\)/);
  assert.doesNotMatch(body.detail, /redis/);
});

Deno.test("GET /readyz and /healthz answer 200 when everything answers", async () => {
  const app = healthRoutes([{ name: "redis", check: () => Promise.resolve("PONG") }]);
  assert.equal((await app.request("/readyz")).status, 200);
  assert.deepEqual(await (await app.request("/healthz")).json(), { status: "ok" });
});

Deno.test("the error handler turns typed errors into problem details and hides the rest", async () => {
  const lines: string[] = [];
  const app = new Hono();
  app.onError(createErrorHandler(createLogger((line) => lines.push(line))));
  app.get("/typed", () => {
    throw new CofferError("RATE_LIMITED", "Try again later", { headers: { "Retry-After": "7" } });
  });
  app.get("/crash", () => {
    throw new Error("secret-token-abc at /internal/path.ts:12");
  });
  const typed = await app.request("/typed");
  assert.equal(typed.status, 429);
  assert.equal(typed.headers.get("retry-after"), "7");
  assert.deepEqual(Object.keys(await typed.json()).sort(), ["detail", "status", "title", "type"]);
  const crash = await app.request("/crash");
  assert.equal(crash.status, 500);
  const text = await crash.text();
  assert.doesNotMatch(text, /secret-token-abc|path\.ts/);
  assert.doesNotMatch(lines.join("\n"), /secret-token-abc/, "the message is not logged either");
});
