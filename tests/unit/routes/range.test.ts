/**
 * Range header parsing: single, open-ended and suffix ranges resolved against
 * a file size; anything else ignored or unsatisfiable.
 */
import assert from "node:assert/strict";
import { parseRange, type RangeRequest } from "../../../routes/range.ts";

const range = (start: number, end: number, suffix = false): RangeRequest => ({
  kind: "range",
  range: { start, end },
  suffix,
});
const NONE: RangeRequest = { kind: "none" };
const UNSATISFIABLE: RangeRequest = { kind: "unsatisfiable" };

// [header, representation size, expected]
const CASES: [string | undefined, number, RangeRequest][] = [
  // a-b: sweep the boundaries of a 10-byte representation
  ["bytes=0-0", 10, range(0, 0)],
  ["bytes=0-8", 10, range(0, 8)],
  ["bytes=0-9", 10, range(0, 9)],
  ["bytes=0-10", 10, range(0, 9)],
  ["bytes=9-9", 10, range(9, 9)],
  ["bytes=3-99999999999999999999", 10, range(3, 9)],
  ["bytes=10-10", 10, UNSATISFIABLE],
  ["bytes=11-20", 10, UNSATISFIABLE],
  ["bytes=5-4", 10, NONE],
  // a-
  ["bytes=0-", 10, range(0, 9)],
  ["bytes=9-", 10, range(9, 9)],
  ["bytes=10-", 10, UNSATISFIABLE],
  ["bytes=5000000-", 1048576, UNSATISFIABLE],
  ["bytes=16383-16384", 1048576, range(16383, 16384)],
  // -n (suffix)
  ["bytes=-1", 10, range(9, 9, true)],
  ["bytes=-9", 10, range(1, 9, true)],
  ["bytes=-10", 10, range(0, 9, true)],
  ["bytes=-11", 10, range(0, 9, true)],
  ["bytes=-0", 10, UNSATISFIABLE],
  // an empty representation satisfies no range
  ["bytes=0-0", 0, UNSATISFIABLE],
  ["bytes=0-", 0, UNSATISFIABLE],
  ["bytes=-1", 0, UNSATISFIABLE],
  // the unit is case-insensitive; stray spaces are tolerated
  ["Bytes=0-1", 10, range(0, 1)],
  ["BYTES=-2", 10, range(8, 9, true)],
  ["bytes= 2 - 3", 10, range(2, 3)],
  // ignored (the whole representation is served)
  [undefined, 10, NONE],
  ["", 10, NONE],
  ["bytes=-", 10, NONE],
  ["bytes=0-1,4-5", 10, NONE],
  ["items=0-1", 10, NONE],
  ["bytes=a-b", 10, NONE],
  ["bytes=1.5-2", 10, NONE],
  ["bytes 0-1", 10, NONE],
];

for (const [header, size, expected] of CASES) {
  Deno.test(`parseRange() resolves ${JSON.stringify(header)} against ${size} bytes`, () => {
    assert.deepEqual(parseRange(header, size), expected);
  });
}
