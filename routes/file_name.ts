/**
 * User-supplied file names and content types. A name is a display label
 * only — never a path or an object key — so it keeps any Unicode but loses
 * control characters, path separators, NUL and bidirectional overrides, and
 * is bounded to 255 UTF-8 bytes. Downloads carry it back in an RFC 6266 /
 * RFC 5987 `Content-Disposition` header: the display name percent-encoded in
 * `filename*`, and an ASCII `filename` fallback sanitized after NFKD (no
 * separators, no leading dot), since that is the one tools write to disk.
 */

/** Largest display name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

// C0/C1 controls, DEL, path separators, bidi embeddings/overrides/isolates,
// line and paragraph separators, and the BOM. Matching control characters is
// the point here, hence the lint exception.
const UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f/\\\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029\ufeff]/g;

/**
 * Turns an untrusted name into a safe display name.
 *
 * @param raw The name as the client sent it (may be undefined).
 * @returns A trimmed name of at most 255 UTF-8 bytes, or `unnamed`.
 * @example
 * ```ts
 * sanitizeFileName("../../etc/passwd"); // "....etcpasswd"
 * ```
 */
export function sanitizeFileName(raw: string | undefined | null): string {
  let name = (raw ?? "").normalize("NFC").replace(UNSAFE, "").trim();
  const encoder = new TextEncoder();
  if (encoder.encode(name).length > MAX_NAME_BYTES) {
    const kept: string[] = [];
    let bytes = 0;
    for (const char of name) {
      bytes += encoder.encode(char).length;
      if (bytes > MAX_NAME_BYTES) break;
      kept.push(char);
    }
    name = kept.join("").trim();
  }
  return name === "" || name === "." || name === ".." ? "unnamed" : name;
}

const MIME = /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,127}$/;

/** A recorded content type: `type/subtype` lowercased, else `application/octet-stream`. */
export function sanitizeContentType(raw: string | undefined | null): string {
  const essence = (raw ?? "").split(";")[0].trim().toLowerCase();
  return MIME.test(essence) ? essence : "application/octet-stream";
}

/**
 * The ASCII `filename=` fallback, made safe *after* NFKD: compatibility
 * forms fold into ASCII there (fullwidth `．．／` becomes `../`), and clients
 * that ignore `filename*` (curl -OJ, older tools) write this name to disk.
 * So separators, quotes and `%`/`;` become `_`, and leading dots become `_`
 * (no hidden file, no `..`); anything else outside printable ASCII is `_`.
 */
function asciiFallback(name: string): string {
  const ascii = name.normalize("NFKD")
    .replace(/[^\x20-\x7e]/g, "_")
    .replace(/["\\/%;]/g, "_")
    .trim()
    .replace(/^\.+/, (dots) => "_".repeat(dots.length));
  return ascii === "" ? "download" : ascii;
}

/**
 * Builds `Content-Disposition: attachment` with both an ASCII `filename` and
 * a UTF-8 `filename*` (RFC 5987).
 */
export function attachmentDisposition(name: string): string {
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${asciiFallback(name)}"; filename*=UTF-8''${encoded}`;
}
