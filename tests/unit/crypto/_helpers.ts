/** Shared helpers of the crypto unit tests. @module */

import { type CryptoEngine, decryptStream, encryptStream } from "../../../crypto/mod.ts";

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const CHUNK = 16384;
export const SEALED_CHUNK = 16400;
export const HEADER = 56;

const encoder = new TextEncoder();

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/** Random bytes of any length (getRandomValues caps one call at 64 KiB). */
export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

/** Deterministic, cheap pseudo-random bytes for large plaintexts. */
export function patternBytes(length: number, seed = 1): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  const words = new Uint32Array(bytes.buffer, 0, length >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  for (let i = words.length * 4; i < length; i++) bytes[i] = i & 0xff;
  return bytes;
}

export function hex(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Byte-wise equality, fast enough for multi-MiB arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function sha512Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-512", bytes as BufferSource)));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * A stream of `bytes` cut into pieces whose sizes cycle through `sizes`
 * (a single number gives equal pieces). An empty input yields no pieces.
 */
export function streamOf(bytes: Uint8Array, sizes: number | number[] = bytes.length || 1) {
  const cycle = Array.isArray(sizes) ? sizes : [sizes];
  let offset = 0;
  let turn = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      const size = cycle[turn++ % cycle.length];
      controller.enqueue(bytes.subarray(offset, offset + size));
      offset += size;
    },
  }, { highWaterMark: 0 });
}

/** Reads a stream to the end into one array. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return concatBytes(...parts);
}

/**
 * Reads a stream until it ends or errors; returns what was emitted and the
 * error, after checking that further reads keep failing with the same error.
 */
export async function collectUntilError(
  stream: ReadableStream<Uint8Array>,
): Promise<{ output: Uint8Array; error?: unknown }> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { output: concatBytes(...parts) };
      parts.push(value);
    }
  } catch (error) {
    for (let again = 0; again < 2; again++) {
      const repeated = await reader.read().then(
        () => "no error",
        (e) => e,
      );
      if (repeated !== error) throw new Error(`Stream stopped failing after an error: ${repeated}`);
    }
    return { output: concatBytes(...parts), error };
  }
}

export function encrypt(
  key: Uint8Array,
  context: Uint8Array,
  plaintext: Uint8Array,
  options: { salt?: Uint8Array; pieces?: number | number[]; engine?: CryptoEngine } = {},
): Promise<Uint8Array> {
  return collect(
    streamOf(plaintext, options.pieces).pipeThrough(
      encryptStream(key, context, { salt: options.salt, engine: options.engine }),
    ),
  );
}

export function decrypt(
  key: Uint8Array,
  context: Uint8Array,
  ciphertext: Uint8Array,
  pieces?: number | number[],
  engine?: CryptoEngine,
): Promise<Uint8Array> {
  return collect(
    streamOf(ciphertext, pieces).pipeThrough(decryptStream(key, context, { engine })),
  );
}

/** An in-memory ciphertext source that records every read. */
export function memorySource(ciphertext: Uint8Array) {
  const reads: [number, number][] = [];
  return {
    reads,
    get bytesRead() {
      return reads.reduce((n, [start, end]) => n + end - start + 1, 0);
    },
    ciphertextSize: ciphertext.length,
    readRange(start: number, endInclusive: number): Promise<Uint8Array> {
      reads.push([start, endInclusive]);
      return Promise.resolve(ciphertext.slice(start, endInclusive + 1));
    },
  };
}

/** Ciphertext chunk `k` of a message (the final one may be short). */
export function chunkOf(ciphertext: Uint8Array, k: number): Uint8Array {
  const start = HEADER + k * SEALED_CHUNK;
  return ciphertext.subarray(start, Math.min(start + SEALED_CHUNK, ciphertext.length));
}

/** Where the shared Wycheproof vectors live, relative to this repository. */
export const VECTORS_DIR = new URL("../../../../shared/vectors/wycheproof/", import.meta.url);

/** Why the vectors cannot be used, or undefined when they can. */
export function vectorsUnavailable(file: string): string | undefined {
  try {
    Deno.statSync(new URL(file, VECTORS_DIR));
    return undefined;
  } catch (error) {
    return `${new URL(file, VECTORS_DIR).pathname} is not readable (${
      (error as Error).name
    }): shared/ must sit beside the repository`;
  }
}
