/**
 * The docs state the number of upload-job attempts that workers/queue.ts
 * configures: every sentence in the README and OPERATIONS that counts job
 * retries or attempts gives {@linkcode UPLOAD_ATTEMPTS}, in digits or words.
 * (README's architecture section said "five" for a while after the count
 * became 8.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { UPLOAD_ATTEMPTS } from "../../workers/queue.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight"];
const COUNT = String.raw`(\d+|${NUMBER_WORDS.join("|")})`;
/** "retry five times", "attempted 8 times", "each of the 8 attempts", "8 attempts". */
const TIMES = String.raw`(?:retr(?:y|ies|ied)|attempted|tried)\s+(?:up\s+to\s+)?${COUNT}\s+times`;
const COUNTED = new RegExp(String.raw`${TIMES}|${COUNT}\s+attempts`, "gi");

function countsIn(text: string): number[] {
  return [...text.matchAll(COUNTED)].map((match) => {
    const word = (match[1] ?? match[2]).toLowerCase();
    return /^\d+$/.test(word) ? Number(word) : NUMBER_WORDS.indexOf(word);
  });
}

Deno.test("README and OPERATIONS give the upload job attempts workers/queue.ts configures", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const architecture = readme.slice(readme.indexOf("An upload streams into"));
  assert.ok(countsIn(architecture).length > 0, "the architecture section counts attempts");
  for (const doc of ["README.md", "docs/OPERATIONS.md"]) {
    const counts = countsIn(await Deno.readTextFile(join(ROOT, doc)));
    assert.ok(counts.length > 0, `${doc} counts attempts`);
    assert.deepEqual(counts, counts.map(() => UPLOAD_ATTEMPTS), doc);
  }
});
