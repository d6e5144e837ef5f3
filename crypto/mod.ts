// This module is browser compatible.

/**
 * Coffer's encryption: Cobblestone-256 (c2sp.org/chunked-encryption with
 * AEAD_AES_256_GCM and HKDF-Expand-SHA-512) for file contents, streaming and
 * random access; envelope encryption of per-file data keys and sealed
 * metadata under master keys. The AES-GCM calls go through an engine:
 * WebCrypto by default, so this module runs unchanged in browsers; servers
 * pass the OpenSSL engine (`openssl_engine.ts`, not exported here because it
 * needs Deno FFI). The byte formats are specified in docs/FORMAT.md.
 *
 * @example
 * ```ts
 * import { decryptStream, encryptStream, fileContext } from "./mod.ts";
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const context = fileContext("user-1", "file-1");
 * const plaintext = ReadableStream.from([new TextEncoder().encode("hello")])
 *   .pipeThrough(encryptStream(key, context))
 *   .pipeThrough(decryptStream(key, context));
 * ```
 *
 * @module
 */

export { encryptStream, type EncryptStreamOptions } from "./encrypt_stream.ts";
export { decryptStream, type DecryptStreamOptions } from "./decrypt_stream.ts";
export { ciphertextSize, plaintextSize } from "./sizes.ts";
export {
  type CiphertextSource,
  decryptRange,
  openRangeDecryptor,
  type RangeDecryptor,
  type RangeDecryptorOptions,
} from "./random_access.ts";
export { DecryptionError, UnknownKeyError } from "./errors.ts";
export { fileContext } from "./context.ts";
export {
  createKeyExport,
  type KeyExport,
  type ParsedKeyExport,
  parseKeyExport,
} from "./key_export.ts";
export { KeyRing, type KeyRingOptions, type MasterKey, type RingCiphertext } from "./key_ring.ts";
export { type AeadKey, type CryptoEngine, webCryptoEngine } from "./engine.ts";
export {
  generateDataKey,
  rewrapKey,
  unwrapKey,
  WRAP_VERSION,
  wrapKey,
  WRAPPED_KEY_SIZE,
  WRAPPED_KEY_V1_SIZE,
  type WrappedKey,
  wrappedKeyVersion,
} from "./envelope.ts";
export { openBytes, resealBytes, sealBytes, sealedKeyId } from "./sealed.ts";
export {
  CHUNK_SIZE,
  ENCRYPTED_CHUNK_SIZE,
  FORMAT_ID,
  HEADER_SIZE,
  KEY_SIZE,
  SALT_SIZE,
  TAG_SIZE,
} from "./_params.ts";
