/**
 * The files resource: list the caller's files, read one record, download it
 * (plaintext or ciphertext), export its data key, and delete it. Every route
 * sits behind the auth middleware and checks ownership; another user's file
 * and an unknown id give the same 404. Uploads are in routes/uploads.ts and
 * progress in routes/file_status.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createKeyExport, DecryptionError, fileContext, type KeyExport } from "../crypto/mod.ts";
import { CofferError } from "../errors.ts";
import type { Services } from "../services.ts";
import { unwrapDataKey } from "../storage/data_keys.ts";
import { type FileRecord, publicRecord } from "../storage/file_store.ts";
import { deleteFile } from "../storage/delete_file.ts";
import { openStoredCiphertext } from "../storage/stored_ciphertext.ts";
import { serveCiphertext, servePlaintext } from "./downloads.ts";
import { ownedFile, storedFile } from "./owned_file.ts";
import { bearerSecurity, createRouter, problem } from "./openapi.ts";
import {
  binaryResponse,
  FileIdParam,
  FileListSchema,
  FileRecordSchema,
  PageQuery,
} from "./schemas.ts";

const listRoute = createRoute({
  method: "get",
  path: "/api/files",
  summary: "List your files, newest first",
  security: bearerSecurity,
  request: {
    query: PageQuery,
  },
  responses: {
    200: {
      description: "A page of files",
      content: { "application/json": { schema: FileListSchema } },
    },
    400: problem("Invalid limit or cursor"),
    401: problem("Missing or invalid token"),
  },
});

const getRoute = createRoute({
  method: "get",
  path: "/api/files/{id}",
  summary: "One file record",
  security: bearerSecurity,
  request: { params: FileIdParam },
  responses: {
    200: {
      description: "The record",
      content: { "application/json": { schema: FileRecordSchema } },
    },
    404: problem("No such file of yours"),
  },
});

const contentRoute = createRoute({
  method: "get",
  path: "/api/files/{id}/content",
  summary: "Download the decrypted file (Range supported)",
  security: bearerSecurity,
  request: { params: FileIdParam },
  responses: {
    200: binaryResponse("The plaintext, streamed"),
    206: binaryResponse("The requested byte range"),
    404: problem("No such file of yours"),
    409: problem("The file is not stored yet"),
    416: problem("Range not satisfiable"),
    502: problem("The stored file failed its integrity check"),
  },
});

const ciphertextRoute = createRoute({
  method: "get",
  path: "/api/files/{id}/ciphertext",
  summary: "Download the stored Cobblestone ciphertext (Range supported)",
  security: bearerSecurity,
  request: { params: FileIdParam },
  responses: {
    200: binaryResponse("The ciphertext, streamed"),
    206: binaryResponse("The requested byte range"),
    404: problem("No such file of yours"),
    409: problem("The file is not stored yet"),
    416: problem("Range not satisfiable"),
  },
});

const KeyExportSchema = z.object({
  format: z.literal("c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM"),
  hash: z.literal("SHA-512"),
  key: z.string().openapi({ description: "The data key, hex" }),
  context: z.string().openapi({ description: "The context, hex" }),
}).openapi("KeyExport");

const keyRoute = createRoute({
  method: "get",
  path: "/api/files/{id}/key",
  summary: "Export the file's data key for offline decryption",
  security: bearerSecurity,
  request: { params: FileIdParam },
  responses: {
    200: {
      description: "The key export",
      content: { "application/json": { schema: KeyExportSchema } },
    },
    404: problem("No such file of yours"),
    409: problem("The file is not stored yet"),
    502: problem("The stored ciphertext does not verify under this file's key and context"),
  },
});

/**
 * The key export of a stored file, handed out only once the stored
 * ciphertext's commitment verifies under the record's own context: a data
 * key whose record was relabelled with another owner (or a ciphertext moved
 * in) never leaves.
 */
async function verifiedKeyExport(services: Services, record: FileRecord): Promise<KeyExport> {
  const dek = await unwrapDataKey(services.keyRing, record);
  try {
    await openStoredCiphertext(services.store, record, dek, { engine: services.engine });
    return createKeyExport(dek, fileContext(record.owner, record.id));
  } catch (error) {
    if (!(error instanceof DecryptionError)) throw error;
    services.log.error("key_export.integrity_failure", { file_id: record.id });
    services.metrics.integrityFailures.inc();
    throw new CofferError("INTEGRITY_FAILURE", undefined, { cause: error });
  } finally {
    dek.fill(0);
  }
}

const deleteRoute = createRoute({
  method: "delete",
  path: "/api/files/{id}",
  summary: "Delete a file: key, ciphertext, record and staging",
  security: bearerSecurity,
  request: { params: FileIdParam },
  responses: { 204: { description: "Deleted" }, 404: problem("No such file of yours") },
});

/** The files route group (mounted behind the auth middleware). */
export function fileRoutes(services: Services) {
  const { files } = services;
  const router = createRouter();
  router.openapi(listRoute, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await files.list(c.get("user").id, limit, cursor);
    c.header("Cache-Control", "no-store");
    return c.json({ files: page.files.map(publicRecord), next_cursor: page.next_cursor }, 200);
  });
  router.openapi(getRoute, async (c) => {
    const record = await ownedFile(files, c.get("user").id, c.req.valid("param").id);
    c.header("Cache-Control", "no-store");
    return c.json(publicRecord(record), 200);
  });
  router.openapi(contentRoute, async (c) => {
    const record = await storedFile(files, c.get("user").id, c.req.valid("param").id);
    return await servePlaintext(c, services, record) as never;
  });
  router.openapi(ciphertextRoute, async (c) => {
    const record = await storedFile(files, c.get("user").id, c.req.valid("param").id);
    return await serveCiphertext(c, services, record) as never;
  });
  router.openapi(keyRoute, async (c) => {
    const record = await storedFile(files, c.get("user").id, c.req.valid("param").id);
    const keyExport = await verifiedKeyExport(services, record);
    c.header("Cache-Control", "no-store");
    return c.json(keyExport, 200);
  });
  router.openapi(deleteRoute, async (c) => {
    const record = await ownedFile(files, c.get("user").id, c.req.valid("param").id);
    await deleteFile(services, record);
    return c.body(null, 204);
  });
  return router;
}
