/**
 * Opaque identifiers for users and files: 128 random bits, base64url
 * (22 characters). They appear in URLs and object keys, so they carry no
 * meaning and cannot be guessed.
 */

/** Id pattern accepted in routes and object keys. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** A new random id. */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}
