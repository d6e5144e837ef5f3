/**
 * The username rule: 3–64 characters of `a-z 0-9 _ . -`, compared without
 * regard to case. Input may use upper-case ASCII letters; it is stored and
 * compared in lower case. Only ASCII is accepted before folding, so no
 * non-ASCII character (such as the Kelvin sign, which lower-cases to `k`) can
 * alias an existing name.
 *
 * @module
 */

/** Shortest username. */
export const USERNAME_MIN_CHARS = 3;
/** Longest username. */
export const USERNAME_MAX_CHARS = 64;

/** What a client may send as a username (before case folding). */
export const USERNAME_INPUT_PATTERN = /^[A-Za-z0-9_.-]{3,64}$/;

/**
 * Validates and case-folds a username.
 *
 * @param input The username as sent.
 * @returns The canonical (lower-case) username, or `undefined` if it breaks the rule.
 * @example
 * ```ts
 * normalizeUsername("Alice.B"); // "alice.b"
 * normalizeUsername("al"); // undefined
 * ```
 */
export function normalizeUsername(input: string): string | undefined {
  return USERNAME_INPUT_PATTERN.test(input) ? input.toLowerCase() : undefined;
}
