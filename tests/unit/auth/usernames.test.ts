/**
 * Username rules: case folding and the boundaries of 3–64 `[a-z0-9_.-]`.
 */
import assert from "node:assert/strict";
import { normalizeUsername } from "../../../auth/usernames.ts";

Deno.test("normalizeUsername() folds case and sweeps the rule's boundaries", async (t) => {
  const cases: [string, string | undefined][] = [
    ["ab", undefined],
    ["abc", "abc"],
    ["a".repeat(64), "a".repeat(64)],
    ["a".repeat(65), undefined],
    ["Alice.B-2_x", "alice.b-2_x"],
    ["ALICE", "alice"],
    ["al ice", undefined],
    ["al/ice", undefined],
    ["alice\n", undefined],
    ["alíce", undefined],
    ["\u212Aelvin", undefined],
    ["", undefined],
  ];
  for (const [input, expected] of cases) {
    await t.step(`${JSON.stringify(input)} → ${expected}`, () => {
      assert.equal(normalizeUsername(input), expected);
    });
  }
});
