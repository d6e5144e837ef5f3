/**
 * Fingerprints of master keys: `HMAC-SHA-256(key, "coffer/v1 master key
 * fingerprint")`, the first 16 bytes in hex. They name a key without
 * revealing it (HMAC is a PRF: the output says nothing about the key), so
 * they can sit in Redis, where a deployment's prefix records which keys it
 * was created with (storage/key_ring_binding.ts), and generated key ids are
 * built from them rather than a counter, so two data dirs that each
 * generated a key never share a key id for different keys.
 */

const LABEL = new TextEncoder().encode("coffer/v1 master key fingerprint");

/** Bytes of the fingerprint kept (128 bits). */
const FINGERPRINT_BYTES = 16;

/** Hex digits of the fingerprint in a generated key id (64 bits). */
const KID_HEX_DIGITS = 16;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Returns a master key's fingerprint: 32 hex digits.
 *
 * @param key The 32 raw key bytes.
 */
export async function keyFingerprint(key: Uint8Array): Promise<string> {
  const hmac = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, LABEL));
  return hex(mac.subarray(0, FINGERPRINT_BYTES));
}

/**
 * The key id Coffer gives a key it generates: `k-` and the first 16 hex
 * digits of its fingerprint (e.g. `k-3f0c1a2b4d5e6f70`).
 *
 * @param key The 32 raw key bytes.
 */
export async function generatedKeyId(key: Uint8Array): Promise<string> {
  return `k-${(await keyFingerprint(key)).slice(0, KID_HEX_DIGITS)}`;
}
