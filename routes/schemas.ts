/**
 * Response schemas shared by several route groups, named so they appear once
 * in the generated OpenAPI document.
 */
import { z } from "@hono/zod-openapi";

/** A file record as the API shows it. */
export const FileRecordSchema = z.object({
  id: z.string().openapi({ example: "q3V6bR0cS2m8Q2dJk1c9aA" }),
  name: z.string().openapi({ example: "report.pdf" }),
  size: z.number().int().openapi({ description: "Plaintext size in bytes" }),
  content_type: z.string().openapi({ example: "application/pdf" }),
  status: z.enum(["queued", "encrypting", "stored", "failed"]),
  created_at: z.string().openapi({ format: "date-time" }),
  stored_at: z.string().optional().openapi({ format: "date-time" }),
  ciphertext_size: z.number().int().optional(),
  sha256: z.string().optional().openapi({ description: "SHA-256 of the plaintext, hex" }),
  error: z.string().optional(),
  via_request: z.string().optional().openapi({
    description: "The id of the file request it was uploaded through",
  }),
}).openapi("FileRecord");

/** Upload and storage progress of a file. */
export const FileStatusSchema = z.object({
  status: z.enum(["queued", "encrypting", "stored", "failed"]),
  progress: z.object({
    bytes_done: z.number().int(),
    bytes_total: z.number().int(),
    percent: z.number(),
  }),
  attempt: z.number().int().optional().openapi({
    description: "The attempt queued or running, from the second on (a retry)",
  }),
  error: z.string().optional(),
}).openapi("FileStatus");

/** A page of the caller's files. */
export const FileListSchema = z.object({
  files: z.array(FileRecordSchema),
  next_cursor: z.string().nullable(),
}).openapi("FileList");

/** `?limit=&cursor=` of every listing (files, shares, file requests), newest first. */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

/** The `:id` path parameter of every file route. */
export const FileIdParam = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" } }),
});

/** A streamed binary response entry for `createRoute({ responses })`. */
export function binaryResponse(description: string) {
  return {
    description,
    content: {
      "application/octet-stream": { schema: z.any().openapi({ type: "string", format: "binary" }) },
    },
  };
}
