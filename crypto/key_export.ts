// This module is browser compatible.

/**
 * The JSON that hands a file's data key to its owner (`GET
 * /api/files/:id/key`) and that `deno task cli decrypt --key` reads:
 *
 * ```json
 * {"format":"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM","hash":"SHA-512",
 *  "key":"<64 hex digits>","context":"<hex, possibly empty>"}
 * ```
 *
 * @module
 */

import { assertBytes, fromHex, toHex } from "./_bytes.ts";
import { FORMAT_ID, HASH_NAME, KEY_SIZE } from "./_params.ts";

/** The exported key of one file, ready for `JSON.stringify`. */
export interface KeyExport {
  /** Always `c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM`. */
  format: typeof FORMAT_ID;
  /** Always `SHA-512` (the HKDF-Expand hash). */
  hash: typeof HASH_NAME;
  /** The 32-byte input key, lower-case hex. */
  key: string;
  /** The context, lower-case hex (empty string for an empty context). */
  context: string;
}

/** A parsed key export. */
export interface ParsedKeyExport {
  /** The 32-byte input key. */
  key: Uint8Array;
  /** The context bytes. */
  context: Uint8Array;
}

/**
 * Builds the key export object of a file.
 *
 * @param key The 32-byte data key.
 * @param context The file's context (see `fileContext()`).
 * @returns The export; `JSON.stringify` it for the wire.
 * @throws {TypeError} if the key is not 32 bytes.
 * @example
 * ```ts
 * import { createKeyExport } from "./key_export.ts";
 * const json = JSON.stringify(createKeyExport(new Uint8Array(32), new Uint8Array([1])));
 * ```
 */
export function createKeyExport(key: Uint8Array, context: Uint8Array): KeyExport {
  assertBytes(key, "key");
  assertBytes(context, "context");
  if (key.length !== KEY_SIZE) {
    throw new TypeError(`Cannot export key: expected ${KEY_SIZE} bytes, got ${key.length}`);
  }
  return { format: FORMAT_ID, hash: HASH_NAME, key: toHex(key), context: toHex(context) };
}

/**
 * Parses and validates a key export (JSON text or an already parsed value).
 * Hex is accepted in either case; unknown extra fields are ignored.
 *
 * @param input The JSON text, or the value `JSON.parse` returned.
 * @returns The key and context bytes.
 * @throws {TypeError} if the input is not valid JSON, not an object, has
 *   another `format` or `hash`, or a key that is not 64 hex digits or a
 *   context that is not hex.
 * @example
 * ```ts
 * import { parseKeyExport } from "./key_export.ts";
 * const { key, context } = parseKeyExport(
 *   '{"format":"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM","hash":"SHA-512",' +
 *     '"key":"' + "00".repeat(32) + '","context":""}',
 * );
 * ```
 */
export function parseKeyExport(input: unknown): ParsedKeyExport {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch {
      throw new TypeError("Cannot parse key export: not valid JSON");
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("Cannot parse key export: expected a JSON object");
  }
  const fields = value as Record<string, unknown>;
  if (fields.format !== FORMAT_ID) {
    throw new TypeError(`Cannot parse key export: format must be ${JSON.stringify(FORMAT_ID)}`);
  }
  if (fields.hash !== HASH_NAME) {
    throw new TypeError(`Cannot parse key export: hash must be ${JSON.stringify(HASH_NAME)}`);
  }
  const key = typeof fields.key === "string" ? fromHex(fields.key) : undefined;
  if (key === undefined || key.length !== KEY_SIZE) {
    throw new TypeError(`Cannot parse key export: key must be ${2 * KEY_SIZE} hex digits`);
  }
  const context = typeof fields.context === "string" ? fromHex(fields.context) : undefined;
  if (context === undefined) {
    throw new TypeError("Cannot parse key export: context must be a hex string");
  }
  return { key, context };
}
