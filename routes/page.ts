/**
 * Serves the browser page from static/ (plain HTML, CSS and ES modules, no
 * build step) with a strict Content-Security-Policy: no inline script, no
 * framing. Only plain file names with a known extension are served, so
 * nothing from the request can walk out of static/. Third-party browser code
 * comes from its npm package, unbuilt and unchanged: `/static/vendor/tus.min.js`
 * is tus-js-client's own browser bundle (same origin, so `script-src 'self'`
 * allows it).
 */
import { Hono } from "hono";
import { PAGE_CSP } from "./middleware.ts";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  json: "application/json",
};

const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

async function serveFile(
  folder: URL,
  name: string,
  status = 200,
): Promise<Response | undefined> {
  const extension = name.split(".").pop() ?? "";
  if (!SAFE_NAME.test(name) || !(extension in TYPES)) return undefined;
  try {
    const file = await Deno.open(new URL(name, folder));
    return new Response(file.readable, {
      status,
      headers: {
        "Content-Type": TYPES[extension],
        "Content-Security-Policy": PAGE_CSP,
        "Cache-Control": "no-cache",
      },
    });
  } catch {
    return undefined;
  }
}

const STATIC_DIR = new URL("../static/", import.meta.url);

/**
 * A page of static/ (e.g. the public share page) with the page CSP, answered
 * with `status` (a link page says 404 or 410 while still rendering).
 *
 * @throws {Error} if the file is missing (a packaging mistake, so a 500).
 */
export async function staticPage(name: string, status = 200): Promise<Response> {
  const page = await serveFile(STATIC_DIR, name, status);
  if (!page) throw new Error(`Cannot serve static/${name}: missing`);
  return page;
}

/** Browser bundles served from node_modules (the package's own dist/), by name. */
const VENDOR_FILES: Record<string, URL> = {
  "tus.min.js": new URL("../node_modules/tus-js-client/dist/", import.meta.url),
};

/** Routes for the page: `/` (index.html), `/static/<name>` and `/static/vendor/<name>`. */
export function pageRoutes(): Hono {
  const staticDir = STATIC_DIR;
  return new Hono()
    .get("/static/vendor/:name", async (c) => {
      const name = c.req.param("name");
      const folder = Object.hasOwn(VENDOR_FILES, name) ? VENDOR_FILES[name] : undefined;
      return (folder && await serveFile(folder, name)) ?? c.notFound();
    })
    .get("/", async (c) => (await serveFile(staticDir, "index.html")) ?? c.notFound())
    .get(
      "/static/:name",
      async (c) => (await serveFile(staticDir, c.req.param("name"))) ?? c.notFound(),
    );
}
