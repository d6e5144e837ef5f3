/**
 * `GET /openapi.json` describes every route the app serves (generated from
 * the route definitions), and `GET /docs` is the explorer page: HTML under a
 * CSP, no inline script, its script and style served as separate files.
 */
import assert from "node:assert/strict";
import { createApp } from "../../app.ts";
import { startTestServer } from "../test_server.ts";

/** The operations the API promises (SPEC §4 and the compatible endpoints). */
const EXPECTED_OPERATIONS = [
  "GET /healthz",
  "GET /readyz",
  "GET /metrics",
  "GET /openapi.json",
  "GET /docs",
  "POST /api/auth/register",
  "POST /api/auth/token",
  "POST /api/auth/logout",
  "GET /api/me",
  "POST /generate_token",
  "POST /api/files",
  "GET /api/files",
  "GET /api/files/{id}",
  "DELETE /api/files/{id}",
  "GET /api/files/{id}/status",
  "GET /api/files/{id}/events",
  "GET /api/files/{id}/content",
  "GET /api/files/{id}/ciphertext",
  "GET /api/files/{id}/key",
  "POST /upload",
  "GET /list_files",
  "GET /download/{filename}",
  "GET /download_decrypted/{filename}",
  "POST /api/files/{id}/shares",
  "GET /api/shares",
  "GET /api/shares/{id}",
  "GET /api/shares/{id}/accesses",
  "DELETE /api/shares/{id}",
  "GET /s/{id}/info",
  "POST /s/{id}/unlock",
  "GET /s/{id}/content",
  "POST /api/requests",
  "GET /api/requests",
  "GET /api/requests/{id}",
  "DELETE /api/requests/{id}",
  "GET /r/{id}/info",
  "POST /r/{id}/unlock",
  "POST /r/{id}/files",
];

/**
 * Served by the app but not API operations: the browser page, the public
 * link pages and the explorer's assets.
 */
const NOT_API = new Set([
  "GET /",
  "GET /s/{id}",
  "GET /r/{id}",
  "GET /static/{name}",
  "GET /static/vendor/{name}",
  "GET /docs/explorer.js",
  "GET /docs/explorer.css",
]);

/** Paths without bearerAuth (/metrics has its own optional scrape token). */
const PUBLIC = new Set([
  "/healthz",
  "/readyz",
  "/metrics",
  "/openapi.json",
  "/docs",
  "/api/auth/register",
  "/api/auth/token",
  "/api/auth/refresh",
  "/api/dl/{ticket}",
  "/generate_token",
  "/s/{id}/info",
  "/s/{id}/unlock",
  "/s/{id}/content",
  "/r/{id}/info",
  "/r/{id}/unlock",
  "/r/{id}/files",
]);

interface Operation {
  summary?: string;
  security?: Record<string, string[]>[];
  responses?: Record<string, unknown>;
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string; scheme: string }> };
}

Deno.test("GET /openapi.json describes every route", async (t) => {
  await using server = await startTestServer();
  const response = await fetch(`${server.url}/openapi.json`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("Content-Type") ?? "", /^application\/json/);
  const doc: OpenApiDocument = await response.json();
  const operations = new Map(
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op])
    ),
  );

  await t.step("GET /openapi.json names the API and the bearer scheme", () => {
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(doc.info.title, "Coffer API");
    assert.ok(doc.info.version);
    assert.deepEqual(
      { type: doc.components.securitySchemes.bearerAuth.type, scheme: "bearer" },
      { type: "http", scheme: doc.components.securitySchemes.bearerAuth.scheme },
    );
  });

  await t.step("GET /openapi.json lists every operation of the API", () => {
    const missing = EXPECTED_OPERATIONS.filter((name) => !operations.has(name));
    assert.deepEqual(missing, []);
  });

  await t.step("GET /openapi.json lists every route the app serves", () => {
    const app = createApp(server.services);
    const served = new Set(
      app.routes
        .filter((route) => route.method !== "ALL")
        .map((route) => `${route.method} ${route.path.replaceAll(/:(\w+)/g, "{$1}")}`),
    );
    const undocumented = [...served].filter((name) => !NOT_API.has(name) && !operations.has(name));
    assert.deepEqual(undocumented, []);
  });

  await t.step("GET /openapi.json marks protected operations with bearerAuth", () => {
    for (const [name, op] of operations) {
      const path = name.split(" ")[1];
      assert.ok(op.summary, `${name} has a summary`);
      assert.ok(op.responses && Object.keys(op.responses).length > 0, `${name} has responses`);
      const secured = (op.security ?? []).some((requirement) => "bearerAuth" in requirement);
      assert.equal(secured, !PUBLIC.has(path), name);
    }
  });
});

Deno.test("GET /docs serves the explorer page without inline script", async (t) => {
  await using server = await startTestServer();

  await t.step("GET /docs answers HTML under a CSP that forbids inline script", async () => {
    const response = await fetch(`${server.url}/docs`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("Content-Type") ?? "", /^text\/html/);
    const csp = response.headers.get("Content-Security-Policy") ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    const html = await response.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.ok(scripts.length > 0, "the page loads its script");
    for (const [, attributes, body] of scripts) {
      assert.match(attributes, /\bsrc="\/docs\/explorer\.js"/);
      assert.equal(body.trim(), "");
    }
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, "no inline event handlers");
    assert.doesNotMatch(html, /<style\b|\sstyle=/i, "no inline style");
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, "nothing from another origin");
  });

  await t.step("GET /docs/explorer.js renders names as text, never as HTML", async () => {
    const response = await fetch(`${server.url}/docs/explorer.js`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("Content-Type") ?? "", /^text\/javascript/);
    const script = await response.text();
    assert.match(script, /fetch\("\/openapi\.json"/);
    assert.match(script, /textContent/);
    assert.doesNotMatch(script, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  });

  await t.step("GET /docs/explorer.css answers the style sheet", async () => {
    const response = await fetch(`${server.url}/docs/explorer.css`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("Content-Type") ?? "", /^text\/css/);
    await response.body?.cancel();
  });
});
