/**
 * Object keys: the janitor recovers a file id only from a well-formed
 * ciphertext key, never from a sidecar, a backup or a malformed key.
 */
import assert from "node:assert/strict";
import {
  ciphertextKey,
  fileIdOfCiphertextKey,
  sidecarKey,
  userBackupKey,
} from "../../../storage/object_keys.ts";

Deno.test("fileIdOfCiphertextKey() returns the id of files/<owner>/<id> and nothing else", () => {
  assert.equal(fileIdOfCiphertextKey(ciphertextKey("owner1", "file1")), "file1");
  for (
    const key of [
      sidecarKey("owner1", "file1"),
      userBackupKey("owner1"),
      "files/owner1",
      "files/owner1/",
      "files/owner1/file1/extra",
      "other/owner1/file1",
      "",
    ]
  ) {
    assert.equal(fileIdOfCiphertextKey(key), undefined, key);
  }
});
