/**
 * Opaque identifiers for users and files: 128 random bits, base64url
 * (22 characters). They appear in URLs and object keys, so they carry no
 * meaning and cannot be guessed. A new id never starts with `-`: ids are
 * pasted on command lines (`deno task cli get ID`), where a leading dash
 * reads as an option.
 */

/** Id pattern accepted in routes and object keys (older ids may start with `-`). */
export const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

function randomBase64url(bytes: number): string {
  const random = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...random)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** A new random id (drawn again in the 1 in 64 cases that would start with `-`). */
export function newId(): string {
  let id: string;
  do id = randomBase64url(16); while (id.startsWith("-"));
  return id;
}
