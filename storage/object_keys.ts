/**
 * Where things live in the object store. Keys are built from opaque ids
 * only — never from user-supplied names — so nothing in a key reveals or
 * depends on what a file is called.
 */

/** The Cobblestone ciphertext of a file. */
export function ciphertextKey(ownerId: string, fileId: string): string {
  return `files/${ownerId}/${fileId}`;
}

/** The file id of a ciphertext key (`files/<owner>/<id>`), or `undefined` for any other key. */
export function fileIdOfCiphertextKey(key: string): string | undefined {
  const parts = key.split("/");
  return parts.length === 3 && parts[0] === "files" && parts[2] !== "" ? parts[2] : undefined;
}

/** The key sidecar of a file: wrapped DEK and sealed metadata. */
export function sidecarKey(ownerId: string, fileId: string): string {
  return `keys/${ownerId}/${fileId}`;
}

/** The sealed backup of a user record. */
export function userBackupKey(userId: string): string {
  return `users/${userId}`;
}

/** Prefix under which every key sidecar lives (for reindex and rotation). */
export const SIDECAR_PREFIX = "keys/";

/** Prefix under which every ciphertext lives (for the janitor). */
export const CIPHERTEXT_PREFIX = "files/";
