// This module is browser compatible.

/**
 * Per-message key derivation of c2sp.org/chunked-encryption:
 *
 * ```
 * aeadKey (32) ‖ baseNonce (12) ‖ commitment (32) = HKDF-Expand-SHA-512(
 *     prk  = input key (32),
 *     info = "c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM" ‖ 0x00 ‖ salt (24) ‖ context)
 * ```
 *
 * @module
 */

import { assertBytes, bufferSource, concat, utf8 } from "./_bytes.ts";
import { hkdfExpandSha512, importPrk } from "./_hkdf.ts";
import type { AeadKey, CryptoEngine } from "./engine.ts";
import {
  COMMITMENT_SIZE,
  DERIVED_SIZE,
  FORMAT_ID,
  KEY_SIZE,
  NONCE_SIZE,
  SALT_SIZE,
} from "./_params.ts";

/** The per-message values derived from input key, salt and context. */
export interface MessageKeys {
  /** The AES-256-GCM key, imported into the engine in use. */
  aeadKey: AeadKey;
  /** Nonce of chunk 0; chunk k uses baseNonce XOR be96(k). */
  baseNonce: Uint8Array;
  /** Stored after the salt; checked before any chunk is decrypted. */
  commitment: Uint8Array;
}

const INFO_PREFIX = concat(utf8(FORMAT_ID), new Uint8Array([0]));

/**
 * Checks the input key and imports it as the HKDF pseudorandom key. The key
 * bytes are copied before this returns.
 *
 * @throws {TypeError} if the key is not a 32-byte Uint8Array.
 */
export function importInputKey(key: Uint8Array): Promise<CryptoKey> {
  assertBytes(key, "key");
  if (key.length !== KEY_SIZE) {
    throw new TypeError(`Cannot use key: expected ${KEY_SIZE} bytes, got ${key.length}`);
  }
  return importPrk(bufferSource(key));
}

/** Derives aeadKey (imported into `engine`), baseNonce and commitment for one message. */
export async function deriveMessageKeys(
  inputKey: CryptoKey,
  salt: Uint8Array,
  context: Uint8Array,
  engine: CryptoEngine,
): Promise<MessageKeys> {
  if (salt.length !== SALT_SIZE) {
    throw new TypeError(`Cannot use salt: expected ${SALT_SIZE} bytes`);
  }
  const okm = await hkdfExpandSha512(inputKey, concat(INFO_PREFIX, salt, context), DERIVED_SIZE);
  const aeadKey = await engine.importKey(okm.subarray(0, KEY_SIZE));
  const baseNonce = okm.slice(KEY_SIZE, KEY_SIZE + NONCE_SIZE);
  const commitment = okm.slice(KEY_SIZE + NONCE_SIZE, KEY_SIZE + NONCE_SIZE + COMMITMENT_SIZE);
  okm.fill(0);
  return { aeadKey, baseNonce, commitment };
}
