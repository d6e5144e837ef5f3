/**
 * The OpenAPI description of `/api/uploads` (routes/tus.ts), registered for
 * `/openapi.json` only: tus requests carry their meaning in headers and raw
 * bodies, which the handlers read themselves, so no validator is attached.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { bearerSecurity, problem } from "./openapi.ts";

const UploadId = z.object({ id: z.string().openapi({ description: "The upload id" }) });
const tus = (description: string) => ({ description });

const tusHeader = z.object({
  "tus-resumable": z.literal("1.0.0").openapi({
    description: "Required on every request but OPTIONS",
  }),
});

/** Every tus operation, for `router.openAPIRegistry.registerPath`. */
export const TUS_OPERATIONS = [
  createRoute({
    method: "options",
    path: "/api/uploads",
    summary: "tus: the server's version, extensions, largest size and checksum algorithms",
    security: bearerSecurity,
    responses: { 204: tus("Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm") },
  }),
  createRoute({
    method: "options",
    path: "/api/uploads/{id}",
    summary: "tus: the same as OPTIONS /api/uploads",
    security: bearerSecurity,
    request: { params: UploadId },
    responses: { 204: tus("Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm") },
  }),
  createRoute({
    method: "post",
    path: "/api/uploads",
    summary:
      "tus: create a resumable upload (Upload-Length, Upload-Metadata; optional first chunk)",
    security: bearerSecurity,
    request: {
      headers: tusHeader.extend({
        "upload-length": z.string().openapi({ description: "The file's length in bytes" }),
        "upload-metadata": z.string().optional().openapi({
          description: "filename and filetype, base64 (tus)",
        }),
      }),
    },
    responses: {
      201: tus("Location, Upload-Offset, Upload-Expires (and Coffer-File-Id if complete)"),
      400: problem("No Upload-Length, Upload-Defer-Length, or malformed metadata"),
      412: problem("Not Tus-Resumable: 1.0.0"),
      413: problem("Over COFFER_MAX_FILE_BYTES or the quota"),
      415: problem("A body that is not application/offset+octet-stream"),
    },
  }),
  createRoute({
    method: "get",
    path: "/api/uploads/{id}",
    summary: "tus: where the upload is (HEAD; GET answers the same)",
    security: bearerSecurity,
    request: { params: UploadId, headers: tusHeader },
    responses: {
      200: tus("Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Coffer-File-Id"),
      404: problem("No such upload of yours"),
      410: problem("Expired"),
    },
  }),
  createRoute({
    method: "patch",
    path: "/api/uploads/{id}",
    summary: "tus: append a chunk at Upload-Offset",
    security: bearerSecurity,
    request: {
      params: UploadId,
      headers: tusHeader.extend({
        "upload-offset": z.string().openapi({ description: "The server's offset" }),
        "upload-checksum": z.string().optional().openapi({ description: "sha1|sha256 <base64>" }),
      }),
      body: {
        content: {
          "application/offset+octet-stream": {
            schema: z.any().openapi({ type: "string", format: "binary" }),
          },
        },
      },
    },
    responses: {
      204: tus("Upload-Offset, Upload-Expires; Coffer-File-Id on the chunk that completes it"),
      404: problem("No such upload of yours"),
      409: problem("Upload-Offset is not the server's"),
      410: problem("Expired"),
      413: problem("Past Upload-Length"),
      415: problem("Not application/offset+octet-stream"),
      423: problem("Another request still writes this upload"),
      460: problem("Upload-Checksum mismatch; the chunk was discarded"),
    },
  }),
  createRoute({
    method: "delete",
    path: "/api/uploads/{id}",
    summary: "tus: terminate an upload (staged bytes removed, quota released)",
    security: bearerSecurity,
    request: { params: UploadId, headers: tusHeader },
    responses: { 204: tus("Terminated"), 404: problem("No such upload of yours") },
  }),
];
