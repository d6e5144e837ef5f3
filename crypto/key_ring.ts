// This module is browser compatible.

/**
 * The master keys (KEKs) that wrap data keys and seal metadata.
 *
 * Every ring operation is AES-256-GCM with a fresh random 96-bit nonce and
 * returns `nonce (12) ‖ ciphertext ‖ tag (16)`.
 *
 * @module
 */

import { assertBytes } from "./_bytes.ts";
import { KEY_SIZE, NONCE_SIZE, TAG_SIZE } from "./_params.ts";
import { type AeadKey, type CryptoEngine, webCryptoEngine } from "./engine.ts";
import { DecryptionError, UnknownKeyError } from "./errors.ts";

/** One master key: a key id and its 32 raw bytes (as parsed from `COFFER_MASTER_KEYS`). */
export interface MasterKey {
  /** Key id: 1–64 characters of `A-Z a-z 0-9 _ . -`. */
  kid: string;
  /** 32 random bytes. */
  key: Uint8Array;
}

/** The result of {@linkcode KeyRing.encrypt}. */
export interface RingCiphertext {
  /** Id of the key that encrypted. */
  kid: string;
  /** `nonce (12) ‖ ciphertext ‖ tag (16)`. */
  bytes: Uint8Array;
}

const KID = /^[A-Za-z0-9_.-]{1,64}$/;

/** Options of {@linkcode KeyRing.create}. */
export interface KeyRingOptions {
  /** The AES-GCM engine (default: WebCrypto); every engine gives the same bytes. */
  engine?: CryptoEngine;
}

/**
 * A set of AES-256-GCM master keys by id (non-extractable under WebCrypto). The first key is
 * active: it encrypts everything new; the others only decrypt, until data
 * under them is re-wrapped and they can be retired.
 *
 * @example
 * ```ts
 * import { KeyRing } from "./key_ring.ts";
 * const ring = await KeyRing.create([
 *   { kid: "2025-06", key: crypto.getRandomValues(new Uint8Array(32)) },
 *   { kid: "2024-01", key: crypto.getRandomValues(new Uint8Array(32)) },
 * ]);
 * console.log(ring.activeKid); // "2025-06"
 * ```
 */
export class KeyRing {
  /** Id of the key that encrypts new data (the first one given). */
  readonly activeKid: string;
  /** Every key id, active first. */
  readonly kids: readonly string[];
  #keys: Map<string, AeadKey>;

  private constructor(kids: string[], keys: Map<string, AeadKey>) {
    this.activeKid = kids[0];
    this.kids = Object.freeze(kids);
    this.#keys = keys;
  }

  /**
   * Imports master keys into a ring; the raw bytes are copied and not kept.
   *
   * @param keys At least one key; the first becomes active.
   * @param options The engine to import them into.
   * @returns The key ring.
   * @throws {TypeError} if the list is empty, a kid is malformed or repeated,
   *   or a key is not 32 bytes.
   * @example
   * ```ts
   * import { KeyRing } from "./key_ring.ts";
   * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32).fill(7) }]);
   * ```
   */
  static async create(
    keys: readonly MasterKey[],
    options: KeyRingOptions = {},
  ): Promise<KeyRing> {
    const engine = options.engine ?? webCryptoEngine;
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new TypeError("Cannot create key ring: expected at least one master key");
    }
    const imported = new Map<string, AeadKey>();
    for (const { kid, key } of keys) {
      if (typeof kid !== "string" || !KID.test(kid)) {
        throw new TypeError(
          `Cannot create key ring: invalid key id ${
            JSON.stringify(kid)
          } (expected [A-Za-z0-9_.-]{1,64})`,
        );
      }
      if (imported.has(kid)) {
        throw new TypeError(`Cannot create key ring: duplicate key id ${JSON.stringify(kid)}`);
      }
      assertBytes(key, `master key ${kid}`);
      if (key.length !== KEY_SIZE) {
        throw new TypeError(`Cannot create key ring: key ${kid} must be ${KEY_SIZE} bytes`);
      }
      imported.set(kid, await engine.importKey(key));
    }
    return new KeyRing([...imported.keys()], imported);
  }

  /**
   * Whether the ring holds `kid`.
   *
   * @param kid A key id.
   * @returns True if the key is in the ring.
   * @example
   * ```ts
   * import { KeyRing } from "./key_ring.ts";
   * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
   * ring.has("k1"); // true
   * ```
   */
  has(kid: string): boolean {
    return this.#keys.has(kid);
  }

  /**
   * Encrypts under the active key with a random nonce.
   *
   * @param plaintext The bytes to encrypt.
   * @param aad Additional authenticated data (binds purpose and identity).
   * @returns The active kid and `nonce (12) ‖ ciphertext ‖ tag (16)`.
   * @example
   * ```ts
   * import { KeyRing } from "./key_ring.ts";
   * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
   * const { kid, bytes } = await ring.encrypt(new Uint8Array([1]), new Uint8Array([2]));
   * ```
   */
  async encrypt(plaintext: Uint8Array, aad: Uint8Array): Promise<RingCiphertext> {
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
    const sealed = await this.#keys.get(this.activeKid)!.seal(nonce, plaintext, aad);
    const bytes = new Uint8Array(NONCE_SIZE + sealed.length);
    bytes.set(nonce);
    bytes.set(sealed, NONCE_SIZE);
    return { kid: this.activeKid, bytes };
  }

  /**
   * Decrypts `nonce (12) ‖ ciphertext ‖ tag (16)` made by {@linkcode KeyRing.encrypt}.
   *
   * @param kid Id of the key that encrypted.
   * @param bytes The encrypted bytes.
   * @param aad The same additional data as at encryption.
   * @param what What is being decrypted, for the error message.
   * @returns The plaintext.
   * @throws {UnknownKeyError} if the ring does not hold `kid`.
   * @throws {DecryptionError} if the bytes are too short, modified, or the
   *   aad differs.
   * @example
   * ```ts
   * import { KeyRing } from "./key_ring.ts";
   * const ring = await KeyRing.create([{ kid: "k1", key: new Uint8Array(32) }]);
   * const aad = new Uint8Array([2]);
   * const { kid, bytes } = await ring.encrypt(new Uint8Array([1]), aad);
   * await ring.decrypt(kid, bytes, aad); // Uint8Array [1]
   * ```
   */
  async decrypt(
    kid: string,
    bytes: Uint8Array,
    aad: Uint8Array,
    what = "data",
  ): Promise<Uint8Array> {
    const key = this.#keys.get(kid);
    if (key === undefined) throw new UnknownKeyError(kid);
    assertBytes(bytes, what);
    if (bytes.length < NONCE_SIZE + TAG_SIZE) {
      throw new DecryptionError(`Cannot decrypt ${what}: too short`);
    }
    try {
      return await key.open(bytes.subarray(0, NONCE_SIZE), bytes.subarray(NONCE_SIZE), aad);
    } catch (cause) {
      throw new DecryptionError(`Cannot decrypt ${what}: authentication failed`, { cause });
    }
  }
}
