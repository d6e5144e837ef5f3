// This module is browser compatible.

/** Byte helpers shared by the crypto modules. @module */

const encoder = new TextEncoder();

/** UTF-8 encodes a string. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/** Concatenates byte arrays into a new one. */
export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Compares two byte arrays in time that depends only on their lengths. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}

/**
 * Returns a view WebCrypto accepts as a `BufferSource`: the same bytes when
 * they live in an ordinary `ArrayBuffer`, else a copy.
 */
export function bufferSource(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer
    ? bytes as Uint8Array<ArrayBuffer>
    : new Uint8Array(bytes) as Uint8Array<ArrayBuffer>;
}

/** Lower-case hex encoding. */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += bytes[i].toString(16).padStart(2, "0");
  return hex;
}

/** Decodes hex (either case); returns undefined when the text is not hex. */
export function fromHex(hex: string): Uint8Array<ArrayBuffer> | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Throws a TypeError unless `value` is a Uint8Array. */
export function assertBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`Cannot use ${what}: expected a Uint8Array`);
  }
}

/**
 * Encodes an identifier (owner id, file id, label) as UTF-8 for use between
 * 0x00 separators: it must be a non-empty, well-formed string without U+0000,
 * so that the encoding is unambiguous.
 */
export function encodeIdentifier(value: unknown, what: string): Uint8Array<ArrayBuffer> {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(`Cannot encode ${what}: expected a non-empty string`);
  }
  if (value.includes("\0")) {
    throw new TypeError(`Cannot encode ${what}: it contains U+0000`);
  }
  if (!value.isWellFormed()) {
    throw new TypeError(`Cannot encode ${what}: it contains a lone surrogate`);
  }
  return utf8(value);
}

/** A no-op rejection handler: marks a promise as handled. */
export function ignore(): void {}
