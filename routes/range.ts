/**
 * HTTP `Range` parsing for downloads (RFC 9110 §14): one range per request,
 * in the forms `a-b`, `a-` and `-n`. Multiple ranges and malformed headers
 * are ignored (the whole representation is served, as the RFC allows); a
 * well-formed range that lies past the end is unsatisfiable (416).
 */

/** An inclusive byte range within a representation. */
export interface ResolvedRange {
  start: number;
  end: number;
}

/** Result of {@linkcode parseRange}. */
export type RangeRequest =
  | { kind: "none" }
  | { kind: "unsatisfiable" }
  /** `suffix` marks the `-n` form, whose start depends on the length (authenticate it first). */
  | { kind: "range"; range: ResolvedRange; suffix: boolean };

// Range units are case-insensitive (RFC 9110 §14.1).
const SINGLE = /^bytes=(\d*)-(\d*)$/i;

/**
 * Resolves a `Range` header against a representation of `size` bytes.
 *
 * @example
 * ```ts
 * parseRange("bytes=-1", 10); // { kind: "range", range: { start: 9, end: 9 }, suffix: true }
 * ```
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  const match = header?.replaceAll(" ", "").match(SINGLE);
  if (!match || (match[1] === "" && match[2] === "")) return { kind: "none" };
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    const range = { start: Math.max(0, size - suffix), end: size - 1 };
    return { kind: "range", range, suffix: true };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== "" && Number(match[2]) < start) return { kind: "none" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "range", range: { start, end }, suffix: false };
}
