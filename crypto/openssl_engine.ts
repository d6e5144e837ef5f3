/**
 * The OpenSSL engine: AES-256-GCM from libcrypto 3 through Deno FFI. This is
 * the one module of crypto/ that is not browser compatible; servers, workers
 * and the CLI inject it where it loads (see `crypto_engine.ts` at the top of
 * the repository), and no other crypto/ module imports it.
 *
 * Every call is synchronous (`nonblocking` FFI calls cost ~35 µs each, more
 * than the AES of a 16 KiB chunk). One cipher context per thread is
 * allocated at load and re-keyed per batch; the small scratch buffers are
 * allocated once. Lengths and offsets are checked here, in TypeScript,
 * before any native call. So that a big batch cannot starve the event loop,
 * once the current macrotask has done about 1 MiB of work, results resolve
 * only after the next turn of the event loop (inputs are still read at
 * once, as the engine contract requires).
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { CHUNK_SIZE, chunkNonce, ENCRYPTED_CHUNK_SIZE, NONCE_SIZE, TAG_SIZE } from "./_params.ts";
import { type AeadKey, checkBatch, chunksIn, type CryptoEngine } from "./engine.ts";
import { DecryptionError } from "./errors.ts";

const SYMBOLS = {
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_aes_256_gcm: { parameters: [], result: "pointer" },
  // (ctx, cipher, engine, key, iv, enc): enc 1 encrypts, 0 decrypts, -1 keeps the direction
  EVP_CipherInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  // (ctx, out, outl, in, inl); out = null feeds additional data
  EVP_CipherUpdate: { parameters: ["pointer", "buffer", "buffer", "buffer", "i32"], result: "i32" },
  EVP_CipherFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
} as const;

const CTRL_GCM_GET_TAG = 0x10;
const CTRL_GCM_SET_TAG = 0x11;
const ENCRYPT = 1;
const DECRYPT = 0;
const KEEP = -1;
/** Work one macrotask may do before results wait for the next turn. */
const TURN_BUDGET = 1024 * 1024;
/** The largest buffer handed to one native call (the C side takes an `int`). */
const MAX_CALL_BYTES = 0x7fff_0000;

/**
 * Where libcrypto 3 usually lives, tried in order when no path is given. The
 * deno.json tasks grant `--allow-ffi` to exactly these paths (a test checks).
 */
export const LIBCRYPTO_CANDIDATES: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
  "/usr/lib/aarch64-linux-gnu/libcrypto.so.3",
  "/usr/lib64/libcrypto.so.3",
  "/usr/lib/libcrypto.so.3",
  "/usr/local/lib/libcrypto.so.3",
  "/opt/homebrew/lib/libcrypto.3.dylib",
];

type Library = Deno.DynamicLibrary<typeof SYMBOLS>;
type Context = NonNullable<Deno.PointerValue>;

/** Counts the work of the current macrotask; see the module comment. */
class TurnPacer {
  #bytes = 0;

  /** Records `bytes` of work; resolves with `value` now or after the next turn. */
  settle<T>(bytes: number, value: T): Promise<T> {
    if (this.#bytes === 0) setImmediate(() => this.#bytes = 0);
    this.#bytes += bytes;
    if (this.#bytes <= TURN_BUDGET) return Promise.resolve(value);
    return new Promise((resolve) => setImmediate(() => resolve(value)));
  }
}

/** The loaded library, its one cipher context and the scratch buffers. */
class Cipher {
  readonly path: string;
  #lib: Library;
  #ctx: Context;
  #aes: Deno.PointerValue;
  #outLength = new Int32Array(1);
  #nonce = new Uint8Array(NONCE_SIZE);
  #tag = new Uint8Array(TAG_SIZE);
  #scratch = new Uint8Array(TAG_SIZE);
  #pacer = new TurnPacer();

  constructor(path: string, lib: Library) {
    this.path = path;
    this.#lib = lib;
    this.#aes = lib.symbols.EVP_aes_256_gcm();
    const ctx = lib.symbols.EVP_CIPHER_CTX_new();
    if (ctx === null || this.#aes === null) throw new Error("EVP_CIPHER_CTX_new failed");
    this.#ctx = ctx;
  }

  /**
   * Seals `count` pieces of `plaintext`, `stride` bytes each but the last,
   * each under its nonce; returns their `body ‖ tag` forms back to back.
   */
  seal(
    key: Uint8Array,
    nonceOf: (i: number) => Uint8Array,
    plaintext: Uint8Array,
    stride: number,
    aad?: Uint8Array,
  ) {
    const count = chunksIn(plaintext.length, stride);
    const out = new Uint8Array(plaintext.length + count * TAG_SIZE);
    this.#begin(key, ENCRYPT);
    for (let i = 0; i < count; i++) {
      const input = plaintext.subarray(i * stride, (i + 1) * stride);
      const at = i * (stride + TAG_SIZE);
      this.#init(nonceOf(i), aad);
      this.#update(out.subarray(at, at + input.length), input);
      this.#check(
        this.#lib.symbols.EVP_CipherFinal_ex(
          this.#ctx,
          out.subarray(at + input.length),
          this.#outLength,
        ),
        "EVP_CipherFinal_ex",
      );
      const tag = out.subarray(at + input.length, at + input.length + TAG_SIZE);
      this.#check(
        this.#lib.symbols.EVP_CIPHER_CTX_ctrl(this.#ctx, CTRL_GCM_GET_TAG, TAG_SIZE, tag),
        "GET_TAG",
      );
    }
    return this.#pacer.settle(plaintext.length, out);
  }

  /**
   * Opens the sealed pieces of `sealed`, `stride` bytes each but the last,
   * each under its nonce; `failure(i)` is thrown for the first bad one. In
   * place, each piece is decrypted into itself (OpenSSL allows exactly equal
   * buffers, not partly overlapping ones) and then moved down over the tags
   * before it, so the plaintexts end up back to back at the front; that
   * saves allocating the output, which costs more CPU here than the AES.
   */
  open(
    key: Uint8Array,
    nonceOf: (i: number) => Uint8Array,
    sealed: Uint8Array,
    stride: number,
    failure: (i: number) => DecryptionError,
    options: { aad?: Uint8Array; inPlace?: boolean } = {},
  ) {
    const count = chunksIn(sealed.length, stride);
    const length = sealed.length - count * TAG_SIZE;
    const out = options.inPlace ? sealed : new Uint8Array(length);
    this.#begin(key, DECRYPT);
    for (let i = 0; i < count; i++) {
      const piece = sealed.subarray(i * stride, (i + 1) * stride);
      if (piece.length < TAG_SIZE) throw failure(i);
      const bodyLength = piece.length - TAG_SIZE;
      const at = i * (stride - TAG_SIZE);
      const body = piece.subarray(0, bodyLength);
      this.#init(nonceOf(i), options.aad);
      // SET_TAG only reads the 16 bytes, but OpenSSL's prototype is not const.
      const tag = this.#tag;
      tag.set(piece.subarray(bodyLength));
      this.#update(options.inPlace ? body : out.subarray(at, at + bodyLength), body);
      this.#check(
        this.#lib.symbols.EVP_CIPHER_CTX_ctrl(this.#ctx, CTRL_GCM_SET_TAG, TAG_SIZE, tag),
        "SET_TAG",
      );
      // GCM's final step writes no bytes; the scratch only gives it a valid pointer.
      const ok = this.#lib.symbols.EVP_CipherFinal_ex(this.#ctx, this.#scratch, this.#outLength);
      if (ok !== 1) {
        out.fill(0); // no unauthenticated plaintext leaves this function
        throw failure(i);
      }
      if (options.inPlace && at !== i * stride) {
        out.copyWithin(at, i * stride, i * stride + bodyLength);
      }
    }
    return this.#pacer.settle(sealed.length, options.inPlace ? out.subarray(0, length) : out);
  }

  close() {
    this.#lib.symbols.EVP_CIPHER_CTX_free(this.#ctx);
    this.#lib.close();
  }

  #begin(key: Uint8Array, direction: number) {
    if (key.length !== 32) throw new TypeError("Cannot use AES-256 key: expected 32 bytes");
    this.#check(
      this.#lib.symbols.EVP_CipherInit_ex(this.#ctx, this.#aes, null, key, null, direction),
      "EVP_CipherInit_ex",
    );
  }

  #init(nonce: Uint8Array, aad: Uint8Array | undefined) {
    if (nonce.length !== NONCE_SIZE) {
      throw new TypeError(`Cannot use nonce: expected ${NONCE_SIZE} bytes`);
    }
    this.#check(
      this.#lib.symbols.EVP_CipherInit_ex(this.#ctx, null, null, null, nonce, KEEP),
      "EVP_CipherInit_ex",
    );
    if (aad !== undefined && aad.length > 0) this.#update(null, aad);
  }

  #update(out: Uint8Array | null, input: Uint8Array) {
    if (input.length > MAX_CALL_BYTES || (out !== null && out.length < input.length)) {
      throw new RangeError(`Cannot process ${input.length} bytes in one call`);
    }
    if (input.length === 0) return;
    this.#check(
      this.#lib.symbols.EVP_CipherUpdate(this.#ctx, out, this.#outLength, input, input.length),
      "EVP_CipherUpdate",
    );
    if (out !== null && this.#outLength[0] !== input.length) {
      throw new Error("EVP_CipherUpdate: short output");
    }
  }

  #check(result: number, call: string) {
    if (result !== 1) throw new Error(`${call} failed`);
  }

  chunkNonces(baseNonce: Uint8Array, first: number) {
    return (i: number) => chunkNonce(baseNonce, first + i, this.#nonce);
  }
}

class OpenSslKey implements AeadKey {
  #cipher: Cipher;
  #key: Uint8Array;

  constructor(cipher: Cipher, key: Uint8Array) {
    this.#cipher = cipher;
    this.#key = key;
  }

  seal(nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
    try {
      const stride = Math.max(plaintext.length, 1); // one piece
      return this.#cipher.seal(this.#key, () => nonce, plaintext, stride, aad);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  open(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Promise<Uint8Array> {
    const failure = () => new DecryptionError("Cannot decrypt: authentication failed");
    if (sealed.length < TAG_SIZE) return Promise.reject(failure());
    try {
      return this.#cipher.open(this.#key, () => nonce, sealed, sealed.length, failure, { aad });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  sealChunks(baseNonce: Uint8Array, first: number, plaintext: Uint8Array): Promise<Uint8Array> {
    try {
      checkBatch(baseNonce, first, plaintext.length, false);
      const nonces = this.#cipher.chunkNonces(baseNonce, first);
      return this.#cipher.seal(this.#key, nonces, plaintext, CHUNK_SIZE);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  openChunks(
    baseNonce: Uint8Array,
    first: number,
    sealed: Uint8Array,
    inPlace = false,
  ): Promise<Uint8Array> {
    try {
      checkBatch(baseNonce, first, sealed.length, true);
      const failure = (i: number) =>
        new DecryptionError(`Cannot decrypt chunk ${first + i}: authentication failed`);
      const nonces = this.#cipher.chunkNonces(baseNonce, first);
      return this.#cipher.open(this.#key, nonces, sealed, ENCRYPTED_CHUNK_SIZE, failure, {
        inPlace,
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** The OpenSSL engine, with the library it loaded. */
export interface OpenSslEngine extends CryptoEngine, Disposable {
  /** The libcrypto file in use. */
  readonly path: string;
}

/**
 * Loads libcrypto 3 and returns the engine. Callers run a known-answer
 * self-test before trusting it (`crypto_engine.ts` does).
 *
 * @param path The library file; by default the first of
 *   {@linkcode LIBCRYPTO_CANDIDATES} that loads.
 * @returns The engine; dispose it to free the context and unload the library.
 * @throws {Error} naming the path(s) tried and why each failed.
 * @example
 * ```ts
 * import { loadOpenSslEngine } from "./openssl_engine.ts";
 * using engine = loadOpenSslEngine();
 * const key = await engine.importKey(new Uint8Array(32));
 * ```
 */
export function loadOpenSslEngine(path?: string): OpenSslEngine {
  const failures: string[] = [];
  for (const candidate of path === undefined ? LIBCRYPTO_CANDIDATES : [path]) {
    let lib: Library;
    try {
      lib = Deno.dlopen(candidate, SYMBOLS);
    } catch (error) {
      failures.push(`${candidate}: ${error instanceof Error ? error.message : error}`);
      continue;
    }
    const cipher = new Cipher(candidate, lib);
    return {
      name: "openssl",
      path: candidate,
      importKey(key: Uint8Array): Promise<AeadKey> {
        if (!(key instanceof Uint8Array) || key.length !== 32) {
          return Promise.reject(new TypeError("Cannot import AES-256 key: expected 32 bytes"));
        }
        return Promise.resolve(new OpenSslKey(cipher, key.slice()));
      },
      [Symbol.dispose]: () => cipher.close(),
    };
  }
  throw new Error(`Cannot load libcrypto 3: ${failures.join("; ")}`);
}
