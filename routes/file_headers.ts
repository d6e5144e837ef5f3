/**
 * The headers every file response carries — owner downloads (`/content`,
 * `/ciphertext`), the compatible `/download*` routes, and any later ticket
 * or share route — so that uploaded bytes can never act as part of a page:
 *
 * - `Content-Type` is the recorded type only when it is on a short list of
 *   passive types that no browser executes or renders as a document (plain
 *   text, raster images, audio, video, archives, JSON); everything else is
 *   `application/octet-stream`. That is an allowlist on purpose: HTML, SVG,
 *   XML, XHTML, JavaScript, PDF (it carries scripts of its own), XSLT, and
 *   every type nobody has reviewed would otherwise keep a type some browser or
 *   plugin treats as active. The record keeps the type the uploader sent.
 * - `Cross-Origin-Resource-Policy: same-origin`: another origin cannot embed
 *   the response (`<script src>`, `<img src>`), whatever its type.
 * - `Content-Security-Policy: sandbox; default-src 'none'`: opened as a
 *   document anyway, it runs no script, loads nothing and has an opaque origin.
 * - `Content-Disposition: attachment` (RFC 6266/5987), `nosniff`, `no-store`.
 */
import { attachmentDisposition } from "./file_name.ts";

/** The Content-Security-Policy of every file response. */
export const FILE_CSP = "sandbox; default-src 'none'";

/** Recorded content types served as they are; any other is served as octet-stream. */
export const PASSIVE_CONTENT_TYPES: ReadonlySet<string> = new Set([
  "text/plain",
  "text/csv",
  "text/tab-separated-values",
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
  "image/bmp",
  "image/tiff",
  "image/heic",
  "image/heif",
  "audio/mpeg",
  "audio/ogg",
  "audio/wav",
  "audio/webm",
  "audio/flac",
  "audio/aac",
  "audio/mp4",
  "video/mp4",
  "video/webm",
  "video/ogg",
  "video/quicktime",
  "application/json",
  "application/zip",
  "application/gzip",
  "application/x-tar",
  "application/x-7z-compressed",
  "application/octet-stream",
]);

/**
 * The Content-Type a stored file is served with.
 *
 * @param recorded The record's type (a lowercase `type/subtype` essence).
 * @returns `recorded` if it is in {@linkcode PASSIVE_CONTENT_TYPES}, else
 *   `application/octet-stream`.
 * @example
 * ```ts
 * servedContentType("image/png"); // "image/png"
 * servedContentType("image/svg+xml"); // "application/octet-stream"
 * ```
 */
export function servedContentType(recorded: string): string {
  return PASSIVE_CONTENT_TYPES.has(recorded) ? recorded : "application/octet-stream";
}

/**
 * Builds the headers of a file response (200, 206 or HEAD).
 *
 * @param name The display name offered for saving.
 * @param contentType The recorded content type (made passive here).
 * @returns Fresh headers; callers add length, range and ETag.
 * @example
 * ```ts
 * const headers = fileHeaders("notes.txt", "text/plain");
 * headers.get("Cross-Origin-Resource-Policy"); // "same-origin"
 * ```
 */
export function fileHeaders(name: string, contentType: string): Headers {
  return new Headers({
    "Content-Type": servedContentType(contentType),
    "Content-Disposition": attachmentDisposition(name),
    "Content-Security-Policy": FILE_CSP,
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Accept-Ranges": "bytes",
    "Cache-Control": "no-store",
  });
}
