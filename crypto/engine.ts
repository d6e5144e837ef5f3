// This module is browser compatible.

/**
 * The AES-256-GCM engine interface the format code calls, and the WebCrypto
 * engine that implements it everywhere (the only engine in browsers, the
 * fallback on servers). A faster engine (OpenSSL through FFI, see
 * `openssl_engine.ts`) is injected by callers that have one; nothing in the
 * format code knows which engine runs.
 *
 * An engine seals and opens single values (wrapped keys, sealed blobs) and
 * batches of consecutive Cobblestone-256 chunks of one message. A batch
 * holds its chunks back to back, every one 16,384 plaintext bytes
 * (16,400 sealed) except the last of the batch, which may be shorter; chunk
 * `k` uses the nonce `baseNonce XOR be96(k)`. Engines read their inputs
 * before the call returns, so callers may reuse the input buffers at once.
 *
 * @module
 */

import { bufferSource } from "./_bytes.ts";
import { CHUNK_SIZE, chunkNonce, ENCRYPTED_CHUNK_SIZE, NONCE_SIZE, TAG_SIZE } from "./_params.ts";
import { DecryptionError } from "./errors.ts";

/** AES-256-GCM under one imported key. */
export interface AeadKey {
  /**
   * Encrypts one value.
   * @param nonce 12 bytes, never reused under this key.
   * @param plaintext The bytes to encrypt.
   * @param aad Additional authenticated data (default empty).
   * @returns `ciphertext ‖ tag (16)`.
   */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /**
   * Decrypts one value made by {@linkcode AeadKey.seal}.
   * @returns The plaintext.
   * @throws {DecryptionError} if it does not authenticate.
   */
  open(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Promise<Uint8Array>;
  /**
   * Encrypts chunks `first, first + 1, …` of one message whose plaintexts
   * lie back to back in `plaintext` (an empty `plaintext` is one empty chunk).
   * @returns Their `body ‖ tag` forms back to back.
   */
  sealChunks(baseNonce: Uint8Array, first: number, plaintext: Uint8Array): Promise<Uint8Array>;
  /**
   * Decrypts chunks `first, first + 1, …` whose sealed forms lie back to
   * back in `sealed`.
   * @param inPlace The caller gives `sealed` up: the engine may decrypt into
   *   it and return a view of it (it then zeroes `sealed` on failure).
   * @returns Their plaintexts back to back.
   * @throws {DecryptionError} naming the first chunk that does not
   *   authenticate (nothing of the batch is returned then).
   */
  openChunks(
    baseNonce: Uint8Array,
    first: number,
    sealed: Uint8Array,
    inPlace?: boolean,
  ): Promise<Uint8Array>;
}

/** A source of {@linkcode AeadKey}s. */
export interface CryptoEngine {
  /** `webcrypto` or `openssl`. */
  readonly name: string;
  /**
   * Imports a 32-byte AES-256 key; the bytes are copied before this returns.
   * @throws {TypeError} if the key is not 32 bytes.
   */
  importKey(key: Uint8Array): Promise<AeadKey>;
}

/** Chunks in a batch of `length` bytes whose full chunks have `full` bytes each. */
export function chunksIn(length: number, full: number): number {
  return Math.max(1, Math.ceil(length / full));
}

/**
 * Checks a batch before an engine touches it: a 12-byte base nonce, a
 * non-negative safe first index, and (when opening) no chunk shorter than a
 * tag.
 * @throws {TypeError} on a malformed nonce or index.
 * @throws {DecryptionError} on a sealed chunk shorter than its tag.
 */
export function checkBatch(baseNonce: Uint8Array, first: number, length: number, open: boolean) {
  if (!(baseNonce instanceof Uint8Array) || baseNonce.length !== NONCE_SIZE) {
    throw new TypeError(`Cannot use base nonce: expected ${NONCE_SIZE} bytes`);
  }
  if (!Number.isSafeInteger(first) || first < 0) {
    throw new TypeError(`Cannot use chunk index ${first}: expected a non-negative integer`);
  }
  if (open && length % ENCRYPTED_CHUNK_SIZE < TAG_SIZE && length % ENCRYPTED_CHUNK_SIZE !== 0) {
    const index = first + Math.floor(length / ENCRYPTED_CHUNK_SIZE);
    throw new DecryptionError(`Cannot decrypt chunk ${index}: shorter than its tag`);
  }
  if (open && length === 0) {
    throw new DecryptionError(`Cannot decrypt chunk ${first}: shorter than its tag`);
  }
}

function importWebCryptoKey(key: Uint8Array): Promise<CryptoKey> {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new TypeError("Cannot import AES-256 key: expected 32 bytes");
  }
  return crypto.subtle.importKey("raw", bufferSource(key), "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

/** Joins equal-stride results into one array. */
function join(parts: ArrayBuffer[]): Uint8Array {
  if (parts.length === 1) return new Uint8Array(parts[0]);
  const out = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(new Uint8Array(part), offset);
    offset += part.byteLength;
  }
  return out;
}

class WebCryptoKey implements AeadKey {
  #key: CryptoKey;
  #nonce = new Uint8Array(NONCE_SIZE); // reused: WebCrypto copies the iv per call

  constructor(key: CryptoKey) {
    this.#key = key;
  }

  async seal(nonce: Uint8Array, plaintext: Uint8Array, aad = new Uint8Array()) {
    return new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: bufferSource(nonce), additionalData: bufferSource(aad) },
        this.#key,
        bufferSource(plaintext),
      ),
    );
  }

  async open(nonce: Uint8Array, sealed: Uint8Array, aad = new Uint8Array()) {
    try {
      return new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: bufferSource(nonce), additionalData: bufferSource(aad) },
          this.#key,
          bufferSource(sealed),
        ),
      );
    } catch (cause) {
      throw new DecryptionError("Cannot decrypt: authentication failed", { cause });
    }
  }

  // Every call starts synchronously (WebCrypto copies its inputs), so the
  // caller may reuse `plaintext` once this returns.
  async sealChunks(baseNonce: Uint8Array, first: number, plaintext: Uint8Array) {
    checkBatch(baseNonce, first, plaintext.length, false);
    const calls: Promise<ArrayBuffer>[] = [];
    for (let i = 0, n = chunksIn(plaintext.length, CHUNK_SIZE); i < n; i++) {
      calls.push(crypto.subtle.encrypt(
        { name: "AES-GCM", iv: chunkNonce(baseNonce, first + i, this.#nonce) },
        this.#key,
        bufferSource(plaintext.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)),
      ));
    }
    return join(await Promise.all(calls));
  }

  async openChunks(baseNonce: Uint8Array, first: number, sealed: Uint8Array) {
    checkBatch(baseNonce, first, sealed.length, true);
    const calls: Promise<ArrayBuffer>[] = [];
    for (let i = 0, n = chunksIn(sealed.length, ENCRYPTED_CHUNK_SIZE); i < n; i++) {
      const index = first + i;
      calls.push(
        crypto.subtle.decrypt(
          { name: "AES-GCM", iv: chunkNonce(baseNonce, index, this.#nonce) },
          this.#key,
          bufferSource(sealed.subarray(i * ENCRYPTED_CHUNK_SIZE, (i + 1) * ENCRYPTED_CHUNK_SIZE)),
        ).catch((cause) => {
          throw new DecryptionError(`Cannot decrypt chunk ${index}: authentication failed`, {
            cause,
          });
        }),
      );
    }
    const results = await Promise.allSettled(calls);
    const failed = results.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    return join(results.map((result) => (result as PromiseFulfilledResult<ArrayBuffer>).value));
  }
}

/**
 * The WebCrypto engine: asynchronous, portable, no permissions. Each chunk
 * is one `crypto.subtle` call; a batch keeps all of its calls in flight.
 *
 * @example
 * ```ts
 * import { webCryptoEngine } from "./engine.ts";
 * const key = await webCryptoEngine.importKey(new Uint8Array(32));
 * const sealed = await key.seal(new Uint8Array(12), new TextEncoder().encode("hi"));
 * ```
 */
export const webCryptoEngine: CryptoEngine = {
  name: "webcrypto",
  async importKey(key: Uint8Array): Promise<AeadKey> {
    return new WebCryptoKey(await importWebCryptoKey(key));
  },
};
