/**
 * The API description and its explorer. `GET /openapi.json` is generated
 * from the route definitions of the whole app (every route group declares its
 * routes with `createRoute`), never written by hand. `GET /docs` is a small
 * page of our own that fetches that document and lists the operations; its
 * script and style are separate files under `/docs/` because the page's CSP
 * forbids inline script, and nothing is loaded from a CDN.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "./env.ts";
import { PAGE_CSP } from "./middleware.ts";
import { createRouter } from "./openapi.ts";

/** The `info` object of the generated document. */
export const API_INFO = {
  title: "Coffer API",
  version: "1.0.0",
  description: "Secure file storage: uploads are encrypted with chunked AES-256-GCM " +
    "(c2sp.org/chunked-encryption) before they reach the object store. Errors are RFC 9457 " +
    "problem details.",
};

/** The explorer's files (static/docs/), by the path they are served at. */
const ASSETS: Record<string, { file: string; type: string }> = {
  "/docs": { file: "index.html", type: "text/html; charset=utf-8" },
  "/docs/explorer.js": { file: "explorer.js", type: "text/javascript; charset=utf-8" },
  "/docs/explorer.css": { file: "explorer.css", type: "text/css; charset=utf-8" },
};

const openApiRoute = createRoute({
  method: "get",
  path: "/openapi.json",
  summary: "This API's OpenAPI 3.1 description",
  responses: {
    200: {
      description: "The OpenAPI document",
      content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
    },
  },
});

const explorerRoute = createRoute({
  method: "get",
  path: "/docs",
  summary: "API explorer: a page listing every operation of /openapi.json",
  responses: {
    200: { description: "The page", content: { "text/html": { schema: z.string() } } },
  },
});

async function serveAsset(path: string): Promise<Response> {
  const { file, type } = ASSETS[path];
  const body = await Deno.readFile(new URL(`../static/docs/${file}`, import.meta.url));
  return new Response(body, {
    headers: {
      "Content-Type": type,
      "Content-Security-Policy": PAGE_CSP,
      "Cache-Control": "no-cache",
    },
  });
}

/**
 * Creates the documentation routes.
 *
 * @param app The whole application; its OpenAPI registry is read on the first
 *   request, when every route group has been mounted.
 * @returns The sub-app; mount it with `app.route("/", docsRoutes(app))`.
 * @example
 * ```ts
 * const app = new OpenAPIHono<AppEnv>();
 * app.route("/", docsRoutes(app));
 * ```
 */
export function docsRoutes(app: OpenAPIHono<AppEnv>): OpenAPIHono<AppEnv> {
  const router = createRouter();
  let document: unknown;
  router.openAPIRegistry.registerPath(openApiRoute);
  router.openAPIRegistry.registerPath(explorerRoute);
  router.get("/openapi.json", (c) => {
    document ??= app.getOpenAPI31Document({ openapi: "3.1.0", info: API_INFO });
    c.header("Cache-Control", "no-cache");
    return c.json(document);
  });
  for (const path of Object.keys(ASSETS)) router.get(path, () => serveAsset(path));
  return router;
}
