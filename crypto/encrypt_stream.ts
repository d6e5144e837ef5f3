// This module is browser compatible.

/**
 * Streaming encryption to a Cobblestone-256 (c2sp.org/chunked-encryption,
 * AEAD_AES_256_GCM, HKDF-Expand-SHA-512) ciphertext.
 *
 * @module
 */

import { assertBytes, concat, ignore } from "./_bytes.ts";
import { deriveMessageKeys, importInputKey, type MessageKeys } from "./_derive.ts";
import { BATCH_CHUNKS, checkConcurrency, CHUNK_SIZE, MAX_CHUNKS, SALT_SIZE } from "./_params.ts";
import { ChunkWindow } from "./_window.ts";
import { type CryptoEngine, webCryptoEngine } from "./engine.ts";

/** Options of {@linkcode encryptStream}. */
export interface EncryptStreamOptions {
  /**
   * The 24-byte salt. Leave unset in production (a fresh random salt is
   * drawn); set it only to reproduce test vectors. A salt MUST NOT repeat
   * under the same key.
   */
  salt?: Uint8Array;
  /** Chunks kept in flight (1–256, default 16). */
  concurrency?: number;
  /** The AES-GCM engine (default: WebCrypto). */
  engine?: CryptoEngine;
}

/**
 * Returns a transform stream that encrypts a plaintext byte stream into a
 * Cobblestone-256 ciphertext:
 *
 * ```
 * salt (24) ‖ commitment (32) ‖ chunk 0 ‖ … ‖ final chunk
 * chunk k = AES-256-GCM(aeadKey, baseNonce XOR be96(k), plaintext[16384·k ..], aad = "")
 * ```
 *
 * Every chunk holds 16,384 plaintext bytes except the final one, which holds
 * 0–16,383 and is always written (an empty input gives one empty chunk, a
 * 16 KiB input a full chunk then an empty one). The header is emitted as soon
 * as the key is derived, then the chunks, each write's whole chunks (up to
 * 64 at a time) in one piece. Up to `concurrency` chunks are encrypted at
 * once; output order is preserved and memory stays within a few chunks plus
 * the largest single write.
 *
 * @param key The 32-byte input key (the file's data key). Copied on call.
 * @param context Application context bound into the key derivation (see
 *   `fileContext()`); the same bytes are needed to decrypt. Copied on call.
 * @param options Salt injection (tests only), concurrency and engine.
 * @returns A `TransformStream` from plaintext bytes to ciphertext bytes.
 * @throws {TypeError} if the key is not 32 bytes, the salt not 24 bytes, or the
 *   context not a Uint8Array. The stream errors (RangeError) if the input
 *   exceeds 2^38 chunks, or with a TypeError on a non-Uint8Array chunk.
 * @example
 * ```ts
 * import { encryptStream } from "./encrypt_stream.ts";
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const context = new TextEncoder().encode("example");
 * const ciphertext = ReadableStream.from([new TextEncoder().encode("hello")])
 *   .pipeThrough(encryptStream(key, context));
 * ```
 */
export function encryptStream(
  key: Uint8Array,
  context: Uint8Array,
  options: EncryptStreamOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  const inputKey = importInputKey(key);
  assertBytes(context, "context");
  const salt = options.salt === undefined
    ? crypto.getRandomValues(new Uint8Array(SALT_SIZE))
    : options.salt.slice();
  assertBytes(salt, "salt");
  if (salt.length !== SALT_SIZE) {
    throw new TypeError(`Cannot use salt: expected ${SALT_SIZE} bytes, got ${salt.length}`);
  }
  const concurrency = checkConcurrency(options.concurrency);
  const contextCopy = context.slice();
  const engine = options.engine ?? webCryptoEngine;
  const derived = inputKey.then((prk) => deriveMessageKeys(prk, salt, contextCopy, engine));
  derived.catch(ignore); // surfaced by start()

  let inFlight: ChunkWindow;
  const buffer = new Uint8Array(CHUNK_SIZE);
  let filled = 0;
  let counter = 0;
  let keys: MessageKeys;

  // Engines read `plaintext` before returning, so callers may reuse it.
  function submit(plaintext: Uint8Array): Promise<void> {
    const chunks = Math.max(1, Math.ceil(plaintext.length / CHUNK_SIZE));
    if (counter + chunks > MAX_CHUNKS) {
      throw new RangeError("Cannot encrypt chunk: the message exceeds 2^38 chunks");
    }
    const first = counter;
    counter += chunks;
    return inFlight.push(first, keys.aeadKey.sealChunks(keys.baseNonce, first, plaintext), chunks);
  }

  return new TransformStream<Uint8Array, Uint8Array>({
    async start(controller) {
      inFlight = new ChunkWindow(concurrency, {
        emit: (bytes) => controller.enqueue(bytes),
        failure: (index, cause) => new Error(`Cannot encrypt chunk ${index}: ${cause}`, { cause }),
        failed: (error) => controller.error(error),
      });
      keys = await derived;
      controller.enqueue(concat(salt, keys.commitment));
    },
    async transform(chunk) {
      assertBytes(chunk, "plaintext chunk");
      let offset = 0;
      // Once cancelled, return quietly: see ChunkWindow on why not throw.
      while (offset < chunk.length && !inFlight.stopped) {
        if (filled === 0 && chunk.length - offset >= CHUNK_SIZE) {
          const whole = Math.min(BATCH_CHUNKS, Math.floor((chunk.length - offset) / CHUNK_SIZE));
          await submit(chunk.subarray(offset, offset + whole * CHUNK_SIZE));
          offset += whole * CHUNK_SIZE;
          continue;
        }
        const take = Math.min(CHUNK_SIZE - filled, chunk.length - offset);
        buffer.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === CHUNK_SIZE) {
          filled = 0;
          await submit(buffer);
        }
      }
    },
    async flush() {
      await submit(buffer.subarray(0, filled)); // the final, short chunk
      await inFlight.drain();
    },
    async cancel() {
      await inFlight.settle();
    },
  });
}
