/**
 * Ids: 22 base64url characters, all different, and never starting with a
 * dash, which a command line would take for an option.
 */
import assert from "node:assert/strict";
import { ID_PATTERN, newId } from "../../../storage/ids.ts";

Deno.test("newId() returns distinct 22-character base64url ids that never start with '-'", () => {
  const ids = Array.from({ length: 20_000 }, newId);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) {
    assert.match(id, ID_PATTERN);
    assert.ok(!id.startsWith("-"), id);
  }
  // 20,000 draws would include ~300 leading dashes without the redraw; other
  // characters still lead, '_' among them.
  assert.ok(ids.some((id) => id.startsWith("_")));
});
