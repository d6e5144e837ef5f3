/**
 * The request headers of tus 1.0.0 (tus.io/protocols/resumable-upload), parsed
 * and checked: `Upload-Length`, `Upload-Offset`, `Upload-Metadata` and
 * `Upload-Checksum`. Every malformed value is a 400 naming the header, so
 * routes/tus.ts only sees valid numbers, decoded metadata and a known
 * checksum algorithm.
 *
 * @module
 */
import { CofferError } from "../errors.ts";

/** The protocol version spoken, sent in `Tus-Resumable` and `Tus-Version`. */
export const TUS_VERSION = "1.0.0";

/** Checksum algorithms accepted in `Upload-Checksum` (`Tus-Checksum-Algorithm`). */
export const CHECKSUM_ALGORITHMS = ["sha1", "sha256"] as const;

/** A parsed `Upload-Checksum`: the algorithm and the expected digest (base64). */
export interface UploadChecksum {
  algorithm: typeof CHECKSUM_ALGORITHMS[number];
  digest: string;
}

const DIGITS = /^\d{1,16}$/;

/**
 * A non-negative integer header (`Upload-Length`, `Upload-Offset`).
 *
 * @throws {CofferError} `BAD_REQUEST` when missing or not a whole number.
 */
export function byteCount(name: string, value: string | null): number {
  if (value === null) throw new CofferError("BAD_REQUEST", `${name} is required`);
  const trimmed = value.trim();
  if (!DIGITS.test(trimmed) || !Number.isSafeInteger(Number(trimmed))) {
    throw new CofferError("BAD_REQUEST", `${name} must be a whole number of bytes`);
  }
  return Number(trimmed);
}

const METADATA_KEY = /^[\x21-\x2b\x2d-\x7e]+$/; // printable ASCII without space or comma
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64Text(value: string): string {
  if (!BASE64.test(value) || value.length % 4 === 1) throw new Error("not base64");
  const bytes = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}

/**
 * Decodes `Upload-Metadata`: comma-separated `key base64value` pairs (the
 * value may be absent), keys unique, values UTF-8 text.
 *
 * @param header The header, or `null`.
 * @returns The pairs, keys as sent.
 * @throws {CofferError} `BAD_REQUEST` for a malformed pair or a repeated key.
 * @example
 * ```ts
 * parseMetadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential");
 * // { filename: "world_domination_plan.pdf", is_confidential: "" }
 * ```
 */
export function parseMetadata(header: string | null): Record<string, string> {
  const pairs: Record<string, string> = {};
  if (header === null || header.trim() === "") return pairs;
  for (const pair of header.split(",")) {
    const [key, value = "", extra] = pair.trim().split(" ");
    const fail = () => {
      throw new CofferError("BAD_REQUEST", `Upload-Metadata: malformed pair "${key ?? ""}"`);
    };
    if (!key || extra !== undefined || !METADATA_KEY.test(key) || key in pairs) fail();
    try {
      pairs[key] = decodeBase64Text(value);
    } catch {
      fail();
    }
  }
  return pairs;
}

/**
 * Parses `Upload-Checksum: <algorithm> <base64 digest>`.
 *
 * @returns The checksum, or `undefined` when the header is absent.
 * @throws {CofferError} `BAD_REQUEST` for an unsupported algorithm or a malformed value.
 */
export function parseChecksum(header: string | null): UploadChecksum | undefined {
  if (header === null) return undefined;
  const [algorithm, digest, extra] = header.trim().split(" ");
  if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new CofferError(
      "BAD_REQUEST",
      `Upload-Checksum: unsupported algorithm (use ${CHECKSUM_ALGORITHMS.join(" or ")})`,
    );
  }
  if (!digest || extra !== undefined || !BASE64.test(digest)) {
    throw new CofferError("BAD_REQUEST", "Upload-Checksum: expected <algorithm> <base64 digest>");
  }
  return { algorithm: algorithm as UploadChecksum["algorithm"], digest };
}

/** The media type every tus body (PATCH, creation-with-upload) must carry. */
export const OFFSET_OCTET_STREAM = "application/offset+octet-stream";

/** Whether a Content-Type header names {@linkcode OFFSET_OCTET_STREAM}. */
export function isOffsetOctetStream(contentType: string | null): boolean {
  return contentType?.split(";")[0].trim().toLowerCase() === OFFSET_OCTET_STREAM;
}
