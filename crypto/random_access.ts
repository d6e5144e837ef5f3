// This module is browser compatible.

/**
 * Random-access decryption of a Cobblestone-256 ciphertext from ranged reads
 * (e.g. an object store's ranged GET), for serving HTTP `Range` requests.
 *
 * Plaintext byte `i` is byte `i mod 16384` of chunk `floor(i / 16384)`, and
 * chunk `k` starts at ciphertext offset `56 + k·16400`, so a plaintext range
 * needs the 56-byte header plus only the chunks that cover it.
 *
 * @module
 */

import { assertBytes, ignore, timingSafeEqual } from "./_bytes.ts";
import { deriveMessageKeys, importInputKey } from "./_derive.ts";
import { checkConcurrency, HEADER_SIZE, SALT_SIZE } from "./_params.ts";
import { Decryptor, readExactly } from "./_range_decryptor.ts";
import { type CryptoEngine, webCryptoEngine } from "./engine.ts";
import { DecryptionError } from "./errors.ts";
import { plaintextSize } from "./sizes.ts";

/** Where the ciphertext lives: its length and a ranged reader. */
export interface CiphertextSource {
  /** Total ciphertext length in bytes (e.g. from the object's HEAD). */
  readonly ciphertextSize: number;
  /**
   * Reads ciphertext bytes `start` to `endInclusive` (like HTTP
   * `Range: bytes=start-endInclusive`); must return exactly that many bytes.
   */
  readRange(start: number, endInclusive: number): Promise<Uint8Array>;
}

/** Options of {@linkcode openRangeDecryptor}. */
export interface RangeDecryptorOptions {
  /** Chunks fetched per `readRange` call (default 64, about 1 MiB; 1–4096). */
  chunksPerRead?: number;
  /** Chunks kept in flight (1–256, default 16). */
  concurrency?: number;
  /** The AES-GCM engine (default: WebCrypto). */
  engine?: CryptoEngine;
}

/** An opened ciphertext whose commitment has been checked. */
export interface RangeDecryptor {
  /**
   * Plaintext length implied by the ciphertext length. It is authenticated
   * only after {@linkcode RangeDecryptor.authenticateSize} resolved or a read
   * reached the end of the message.
   */
  readonly size: number;
  /**
   * Reads and decrypts the final chunk (cached afterwards) and returns the
   * now authenticated plaintext length. Call it before resolving a range
   * relative to the end (`bytes=-500`) or reporting the total length.
   * @throws {DecryptionError} if the final chunk does not authenticate.
   */
  authenticateSize(): Promise<number>;
  /**
   * Streams plaintext bytes `start` to `endInclusive` (default: the whole
   * message). Reads only the chunks covering the range, `chunksPerRead` at a
   * time with one read ahead; a range that reaches the last byte also
   * decrypts the final chunk, so it authenticates the length. An empty range
   * (`start === endInclusive + 1`) is allowed.
   * @throws {RangeError} if the range is not within `0..size-1`.
   */
  stream(start?: number, endInclusive?: number): ReadableStream<Uint8Array>;
  /** Like {@linkcode RangeDecryptor.stream}, collected into one array. */
  read(start?: number, endInclusive?: number): Promise<Uint8Array>;
}

/**
 * Opens a ciphertext for random access: checks its length, reads the 56-byte
 * header (one `readRange(0, 55)` call) and verifies the key commitment.
 *
 * @param key The 32-byte input key.
 * @param context The context the ciphertext was encrypted with.
 * @param source The ciphertext length and a ranged reader.
 * @param options Read batching, concurrency and engine.
 * @returns A decryptor for plaintext ranges.
 * @throws {TypeError} if the key is not 32 bytes.
 * @throws {DecryptionError} if the ciphertext length is impossible or the
 *   commitment does not match (wrong key, wrong context, modified header).
 * @example
 * ```ts
 * import { encryptStream } from "./encrypt_stream.ts";
 * import { openRangeDecryptor } from "./random_access.ts";
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const context = new TextEncoder().encode("example");
 * const object = new Uint8Array(
 *   await new Response(
 *     ReadableStream.from([new Uint8Array(40_000)]).pipeThrough(encryptStream(key, context)),
 *   ).arrayBuffer(),
 * );
 * const decryptor = await openRangeDecryptor(key, context, {
 *   ciphertextSize: object.length,
 *   readRange: (start, end) => Promise.resolve(object.subarray(start, end + 1)),
 * });
 * const size = await decryptor.authenticateSize();
 * const lastKiB = decryptor.stream(Math.max(0, size - 1024), size - 1);
 * ```
 */
export async function openRangeDecryptor(
  key: Uint8Array,
  context: Uint8Array,
  source: CiphertextSource,
  options: RangeDecryptorOptions = {},
): Promise<RangeDecryptor> {
  const inputKey = importInputKey(key);
  inputKey.catch(ignore); // awaited below
  assertBytes(context, "context");
  const concurrency = checkConcurrency(options.concurrency);
  const chunksPerRead = options.chunksPerRead ?? 64;
  if (!Number.isInteger(chunksPerRead) || chunksPerRead < 1 || chunksPerRead > 4096) {
    throw new RangeError(`Cannot use chunksPerRead ${chunksPerRead}: expected 1 to 4096`);
  }
  const size = plaintextSize(source.ciphertextSize);
  const header = await readExactly(source, 0, HEADER_SIZE - 1);
  const keys = await deriveMessageKeys(
    await inputKey,
    header.subarray(0, SALT_SIZE),
    context,
    options.engine ?? webCryptoEngine,
  );
  if (!timingSafeEqual(keys.commitment, header.subarray(SALT_SIZE))) {
    throw new DecryptionError(
      "Cannot decrypt: commitment mismatch (wrong key or context, or modified header)",
    );
  }
  return new Decryptor(keys, source, size, chunksPerRead, concurrency);
}

/**
 * Decrypts plaintext bytes `start` to `endInclusive` in one call: opens the
 * ciphertext and reads the range (see {@linkcode openRangeDecryptor}).
 *
 * @param key The 32-byte input key.
 * @param context The context the ciphertext was encrypted with.
 * @param source The ciphertext length and a ranged reader.
 * @param start First plaintext byte.
 * @param endInclusive Last plaintext byte.
 * @param options Read batching, concurrency and engine.
 * @returns The plaintext bytes of the range.
 * @throws {DecryptionError} on any authenticity failure of the header or a
 *   covering chunk.
 * @throws {RangeError} if the range is outside the plaintext.
 * @example
 * ```ts
 * import { encryptStream } from "./encrypt_stream.ts";
 * import { decryptRange } from "./random_access.ts";
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const context = new TextEncoder().encode("example");
 * const object = new Uint8Array(
 *   await new Response(
 *     ReadableStream.from([new Uint8Array([1, 2, 3])]).pipeThrough(encryptStream(key, context)),
 *   ).arrayBuffer(),
 * );
 * const firstByte = await decryptRange(key, context, {
 *   ciphertextSize: object.length,
 *   readRange: (start, end) => Promise.resolve(object.subarray(start, end + 1)),
 * }, 0, 0);
 * ```
 */
export async function decryptRange(
  key: Uint8Array,
  context: Uint8Array,
  source: CiphertextSource,
  start: number,
  endInclusive: number,
  options: RangeDecryptorOptions = {},
): Promise<Uint8Array> {
  const decryptor = await openRangeDecryptor(key, context, source, options);
  return await decryptor.read(start, endInclusive);
}
