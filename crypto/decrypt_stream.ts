// This module is browser compatible.

/**
 * Streaming decryption of a Cobblestone-256 (c2sp.org/chunked-encryption,
 * AEAD_AES_256_GCM, HKDF-Expand-SHA-512) ciphertext.
 *
 * @module
 */

import { assertBytes, ignore, timingSafeEqual } from "./_bytes.ts";
import { deriveMessageKeys, importInputKey, type MessageKeys } from "./_derive.ts";
import {
  BATCH_CHUNKS,
  checkConcurrency,
  ENCRYPTED_CHUNK_SIZE,
  HEADER_SIZE,
  MAX_CHUNKS,
  SALT_SIZE,
  TAG_SIZE,
} from "./_params.ts";
import { ChunkWindow } from "./_window.ts";
import { type CryptoEngine, webCryptoEngine } from "./engine.ts";
import { DecryptionError } from "./errors.ts";

/** Options of {@linkcode decryptStream}. */
export interface DecryptStreamOptions {
  /** Chunks kept in flight (1–256, default 16). */
  concurrency?: number;
  /** The AES-GCM engine (default: WebCrypto). */
  engine?: CryptoEngine;
  /**
   * The writer gives up every chunk it writes: the stream may decrypt into
   * it and emit views of it, which saves an allocation per batch with the
   * OpenSSL engine. Set it only for buffers nothing else reads afterwards
   * (e.g. fresh file reads); default false.
   */
  ownsInput?: boolean;
}

/**
 * Returns a transform stream that decrypts a Cobblestone-256 ciphertext
 * (`salt (24) ‖ commitment (32) ‖ chunks`, see `encryptStream()`) back into
 * the plaintext.
 *
 * The commitment is checked (in constant time) before any chunk is decrypted.
 * Chunks are decrypted several at a time but emitted strictly in order, each
 * only after it and every earlier chunk authenticated. The last
 * 16,400-byte piece is held back until more input shows it is not the end:
 * the final chunk must be 16–16,399 bytes, so a ciphertext that ends on a
 * chunk boundary is truncated.
 *
 * On any authenticity failure the stream errors with one
 * {@linkcode DecryptionError} and keeps erroring. Plaintext of the chunks that
 * authenticated before the failure may already have been emitted (at most the
 * longest valid prefix, never anything after it): consumers that must not act
 * on a partial file have to wait for the stream to close.
 *
 * @param key The 32-byte input key. Copied on call.
 * @param context The context the ciphertext was encrypted with. Copied on call.
 * @param options Concurrency, engine, and whether written chunks are handed over.
 * @returns A `TransformStream` from ciphertext bytes to plaintext bytes.
 * @throws {TypeError} if the key is not 32 bytes or the context not a
 *   Uint8Array. The stream errors with {@linkcode DecryptionError} on a
 *   wrong key or context, modified, reordered, truncated or extended data.
 * @example
 * ```ts
 * import { decryptStream } from "./decrypt_stream.ts";
 * import { encryptStream } from "./encrypt_stream.ts";
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const context = new TextEncoder().encode("example");
 * const plaintext = ReadableStream.from([new TextEncoder().encode("hello")])
 *   .pipeThrough(encryptStream(key, context))
 *   .pipeThrough(decryptStream(key, context));
 * const text = await new Response(plaintext).text(); // "hello"
 * ```
 */
export function decryptStream(
  key: Uint8Array,
  context: Uint8Array,
  options: DecryptStreamOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  const inputKey = importInputKey(key);
  inputKey.catch(ignore); // surfaced when the header arrives
  assertBytes(context, "context");
  const contextCopy = context.slice();
  const concurrency = checkConcurrency(options.concurrency);
  const engine = options.engine ?? webCryptoEngine;
  const ownsInput = options.ownsInput ?? false;

  let inFlight: ChunkWindow;
  const header = new Uint8Array(HEADER_SIZE);
  let headerFilled = 0;
  const pending = new Uint8Array(ENCRYPTED_CHUNK_SIZE); // held back until more input follows
  let filled = 0;
  let counter = 0;
  let keys: MessageKeys | undefined;

  async function openHeader(): Promise<MessageKeys> {
    const derived = await deriveMessageKeys(
      await inputKey,
      header.subarray(0, SALT_SIZE),
      contextCopy,
      engine,
    );
    if (!timingSafeEqual(derived.commitment, header.subarray(SALT_SIZE))) {
      throw new DecryptionError(
        "Cannot decrypt: commitment mismatch (wrong key or context, or modified header)",
      );
    }
    return derived;
  }

  // Engines read `ciphertext` before returning, so callers may reuse it,
  // unless it was handed over (`inPlace`).
  function submit(messageKeys: MessageKeys, ciphertext: Uint8Array, inPlace = false) {
    const chunks = Math.ceil(ciphertext.length / ENCRYPTED_CHUNK_SIZE);
    if (counter + chunks > MAX_CHUNKS) {
      throw new DecryptionError("Cannot decrypt chunk: the message exceeds 2^38 chunks");
    }
    const first = counter;
    counter += chunks;
    const result = messageKeys.aeadKey.openChunks(
      messageKeys.baseNonce,
      first,
      ciphertext,
      inPlace,
    );
    return inFlight.push(first, result, chunks);
  }

  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      inFlight = new ChunkWindow(concurrency, {
        emit: (bytes) => controller.enqueue(bytes),
        failure: (index, cause) =>
          cause instanceof DecryptionError
            ? cause
            : new DecryptionError(`Cannot decrypt chunk ${index}: authentication failed`, {
              cause,
            }),
        failed: (error) => controller.error(error),
      });
    },
    async transform(chunk) {
      assertBytes(chunk, "ciphertext chunk");
      let offset = 0;
      if (keys === undefined) {
        const take = Math.min(HEADER_SIZE - headerFilled, chunk.length);
        header.set(chunk.subarray(0, take), headerFilled);
        headerFilled += take;
        offset = take;
        if (headerFilled < HEADER_SIZE) return;
        keys = await openHeader();
      }
      // Once cancelled, return quietly: see ChunkWindow on why not throw.
      while (offset < chunk.length && !inFlight.stopped) {
        if (filled === ENCRYPTED_CHUNK_SIZE) {
          // More input follows, so the held-back piece is a full, non-final chunk.
          filled = 0;
          await submit(keys, pending);
        } else if (filled === 0 && chunk.length - offset > ENCRYPTED_CHUNK_SIZE) {
          // Whole chunks with at least one byte after them: none is the final chunk.
          const whole = Math.min(
            BATCH_CHUNKS,
            Math.floor((chunk.length - offset - 1) / ENCRYPTED_CHUNK_SIZE),
          );
          const batch = chunk.subarray(offset, offset + whole * ENCRYPTED_CHUNK_SIZE);
          await submit(keys, batch, ownsInput);
          offset += whole * ENCRYPTED_CHUNK_SIZE;
        } else {
          const take = Math.min(ENCRYPTED_CHUNK_SIZE - filled, chunk.length - offset);
          pending.set(chunk.subarray(offset, offset + take), filled);
          filled += take;
          offset += take;
        }
      }
    },
    async flush() {
      if (keys === undefined) {
        throw new DecryptionError("Cannot decrypt: ciphertext shorter than the 56-byte header");
      }
      if (filled < TAG_SIZE || filled === ENCRYPTED_CHUNK_SIZE) {
        await inFlight.settle();
        throw new DecryptionError(
          filled === ENCRYPTED_CHUNK_SIZE
            ? `Cannot decrypt: ciphertext truncated (no short final chunk after chunk ${counter})`
            : `Cannot decrypt chunk ${counter}: ciphertext truncated (${filled} bytes, less than a tag)`,
        );
      }
      await submit(keys, pending.subarray(0, filled)); // the final, short chunk
      await inFlight.drain();
    },
    async cancel() {
      await inFlight.settle();
    },
  });
}
