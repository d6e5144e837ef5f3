/**
 * Endpoints of the original Flask design, for its existing clients: same
 * authentication, same records. `POST /upload` takes multipart field `file`;
 * `GET /list_files` lists the caller's files; `GET /download/:filename` and
 * `GET /download_decrypted/:filename` serve the caller's newest stored file
 * of that name as ciphertext or plaintext. (`POST /generate_token` lives with
 * the auth routes.)
 */
import { createRoute, z } from "@hono/zod-openapi";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { publicRecord } from "../storage/file_store.ts";
import { serveCiphertext, servePlaintext } from "./downloads.ts";
import { bearerSecurity, createRouter, problem } from "./openapi.ts";
import { binaryResponse, FileRecordSchema } from "./schemas.ts";
import { acceptUploadRequest } from "./uploads.ts";

const NameParam = z.object({
  filename: z.string().min(1).max(1024).openapi({ param: { name: "filename", in: "path" } }),
});

const listRoute = createRoute({
  method: "get",
  path: "/list_files",
  summary: "Compatible: list your files (all pages)",
  security: bearerSecurity,
  responses: {
    200: {
      description: "Your files, newest first",
      content: { "application/json": { schema: z.object({ files: z.array(FileRecordSchema) }) } },
    },
    401: problem("Missing or invalid token"),
  },
});

const uploadRoute = createRoute({
  method: "post",
  path: "/upload",
  summary: "Compatible: upload a file (multipart field `file`)",
  security: bearerSecurity,
  responses: {
    202: { description: "Queued", content: { "application/json": { schema: FileRecordSchema } } },
    411: problem("The body has no Content-Length (a chunked body)"),
    413: problem("Too large"),
  },
});

const downloadRoute = (path: string, summary: string) =>
  createRoute({
    method: "get",
    path,
    summary,
    security: bearerSecurity,
    request: { params: NameParam },
    responses: {
      200: binaryResponse("The file"),
      404: problem("No stored file of that name"),
    },
  });

const ciphertextRoute = downloadRoute(
  "/download/{filename}",
  "Compatible: newest stored file of that name, encrypted",
);
const plaintextRoute = downloadRoute(
  "/download_decrypted/{filename}",
  "Compatible: newest stored file of that name, decrypted",
);

/** The compatible route group (mounted behind the auth middleware). */
export function compatRoutes(services: Services) {
  const { files } = services;
  const router = createRouter();
  const newest = async (owner: string, name: string) => {
    const record = await files.findNewestStored(owner, name);
    if (!record) throw new CofferError("FILE_NOT_FOUND");
    return record;
  };
  router.openapi(listRoute, async (c) => {
    const all = [];
    let cursor: string | undefined;
    do {
      const page = await files.list(c.get("user").id, 200, cursor);
      all.push(...page.files.map(publicRecord));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    c.header("Cache-Control", "no-store");
    return c.json({ files: all }, 200);
  });
  router.openAPIRegistry.registerPath(uploadRoute);
  router.post("/upload", (c) => acceptUploadRequest(c, services));
  router.openapi(ciphertextRoute, async (c) => {
    const record = await newest(c.get("user").id, c.req.valid("param").filename);
    return await serveCiphertext(c, services, record) as never;
  });
  router.openapi(plaintextRoute, async (c) => {
    const record = await newest(c.get("user").id, c.req.valid("param").filename);
    return await servePlaintext(c, services, record) as never;
  });
  return router;
}
