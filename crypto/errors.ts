// This module is browser compatible.

/**
 * The error for every authenticity failure of a Coffer ciphertext, wrapped
 * key or sealed blob: a wrong key or context (commitment mismatch), a modified
 * salt, commitment, chunk body or tag, reordered or duplicated chunks,
 * truncation (including a ciphertext that ends on a chunk boundary), trailing
 * data and impossible ciphertext lengths.
 *
 * Callers should treat all of them alike: the data is not what was encrypted.
 * The message names the step that failed, for logs only.
 *
 * @example
 * ```ts
 * import { DecryptionError } from "./errors.ts";
 * try {
 *   throw new DecryptionError("Cannot decrypt chunk 3: authentication failed");
 * } catch (error) {
 *   if (!(error instanceof DecryptionError)) throw error;
 * }
 * ```
 */
export class DecryptionError extends Error {
  /**
   * @param message What failed, e.g. `Cannot decrypt chunk 3: authentication failed`.
   * @param options Standard error options (`cause`).
   */
  constructor(message = "Cannot decrypt: authentication failed", options?: ErrorOptions) {
    super(message, options);
    this.name = "DecryptionError";
  }
}

/**
 * Thrown when data names a master key id that the key ring does not hold
 * (for example a KEK removed from `COFFER_MASTER_KEYS` too early). This is a
 * configuration problem, not an authenticity failure.
 *
 * @example
 * ```ts
 * import { UnknownKeyError } from "./errors.ts";
 * const error = new UnknownKeyError("2023-01");
 * console.log(error.kid); // "2023-01"
 * ```
 */
export class UnknownKeyError extends Error {
  /** The key id that was not found. */
  readonly kid: string;

  /**
   * @param kid The missing key id.
   */
  constructor(kid: string) {
    super(`Cannot find master key: unknown key id ${JSON.stringify(kid)}`);
    this.name = "UnknownKeyError";
    this.kid = kid;
  }
}
