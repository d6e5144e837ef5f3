/**
 * Password hashing with argon2id (RFC 9106) through hash-wasm, which needs no
 * native permissions. Hashes are stored as PHC strings:
 *
 * ```
 * $argon2id$v=19$m=19456,t=2,p=1$<salt, 16 bytes, base64 without padding>$<hash, 32 bytes>
 * ```
 *
 * The parameters are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane).
 * Verification recomputes the hash with the parameters stored in the PHC string
 * and compares in constant time; {@linkcode verifyDummy} spends the same time
 * for an unknown user so that timing does not tell which usernames exist.
 *
 * Length rule: a password has 8 to 1024 characters, counted as Unicode code
 * points (so an emoji is one character), and must be well-formed UTF-16 (no
 * lone surrogates, which UTF-8 would silently replace). It is hashed as its
 * exact UTF-8 bytes: never truncated, never normalised.
 *
 * @module
 */
import { argon2id } from "hash-wasm";

/** Fewest characters (code points) a password may have. */
export const PASSWORD_MIN_CHARS = 8;
/** Most characters (code points) a password may have; longer ones are refused unhashed. */
export const PASSWORD_MAX_CHARS = 1024;

/** The argon2id cost parameters used for new hashes. */
export const ARGON2_PARAMS = {
  /** Memory in KiB. */
  memorySize: 19456,
  iterations: 2,
  parallelism: 1,
  hashLength: 32,
  saltLength: 16,
} as const;

const PHC =
  /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,88})\$([A-Za-z0-9+/]{22,88})$/;
const DUMMY_SALT = new Uint8Array(ARGON2_PARAMS.saltLength);

/** Counts a string's Unicode code points (what users call characters). */
export function passwordLength(password: string): number {
  let count = 0;
  for (const _ of password) count++;
  return count;
}

/**
 * Tells whether a password satisfies the length and well-formedness rule.
 *
 * @param password The candidate password.
 * @returns A reason it is refused, or `undefined` when it is acceptable.
 * @example
 * ```ts
 * checkPassword("short"); // "must have at least 8 characters"
 * ```
 */
export function checkPassword(password: string): string | undefined {
  // Cheap bound first: UTF-16 length is at least the code point count.
  if (password.length > PASSWORD_MAX_CHARS * 2) {
    return `must have at most ${PASSWORD_MAX_CHARS} characters`;
  }
  const length = passwordLength(password);
  if (length > PASSWORD_MAX_CHARS) return `must have at most ${PASSWORD_MAX_CHARS} characters`;
  if (length < PASSWORD_MIN_CHARS) return `must have at least ${PASSWORD_MIN_CHARS} characters`;
  if (!password.isWellFormed()) return "must be valid Unicode text";
  return undefined;
}

function decodeBase64(text: string): Uint8Array {
  const padded = text + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function encodeBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
}

/** Compares two byte arrays in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

interface Argon2Input {
  memorySize: number;
  iterations: number;
  parallelism: number;
  salt: Uint8Array;
  hashLength: number;
}

function argon2(password: string, input: Argon2Input): Promise<Uint8Array> {
  return argon2id({ password: new TextEncoder().encode(password), ...input, outputType: "binary" });
}

/**
 * Hashes a password with argon2id and a fresh random salt.
 *
 * @param password The password; check it with {@linkcode checkPassword} first.
 * @returns The PHC string, e.g. `$argon2id$v=19$m=19456,t=2,p=1$…$…`.
 * @throws {RangeError} if the password breaks the length rule (it is never truncated).
 * @example
 * ```ts
 * const phc = await hashPassword("correct horse battery staple");
 * await verifyPassword("correct horse battery staple", phc); // true
 * ```
 */
export async function hashPassword(password: string): Promise<string> {
  const problem = checkPassword(password);
  if (problem) throw new RangeError(`Cannot hash password: it ${problem}`);
  const { memorySize, iterations, parallelism, hashLength, saltLength } = ARGON2_PARAMS;
  const salt = crypto.getRandomValues(new Uint8Array(saltLength));
  const hash = await argon2(password, { memorySize, iterations, parallelism, salt, hashLength });
  return `$argon2id$v=19$m=${memorySize},t=${iterations},p=${parallelism}` +
    `$${encodeBase64(salt)}$${encodeBase64(hash)}`;
}

/**
 * Checks a password against a stored PHC string in constant time.
 *
 * @param password The password a client sent.
 * @param phc A PHC string from {@linkcode hashPassword}.
 * @returns Whether the password matches; `false` for a malformed PHC string too.
 */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const match = PHC.exec(phc);
  if (!match || password.length > PASSWORD_MAX_CHARS * 2) {
    await verifyDummy(password);
    return false;
  }
  const [, m, t, p, saltText, hashText] = match;
  const expected = decodeBase64(hashText);
  const actual = await argon2(password, {
    memorySize: Number(m),
    iterations: Number(t),
    parallelism: Number(p),
    salt: decodeBase64(saltText),
    hashLength: expected.length,
  });
  return constantTimeEqual(actual, expected);
}

/**
 * Spends the time of one {@linkcode verifyPassword} with the current parameters
 * and always fails: run it for an unknown username so the response time does
 * not reveal whether the account exists.
 *
 * @param password The password the client sent (hashed, then discarded).
 * @returns `false`.
 */
export async function verifyDummy(password: string): Promise<false> {
  const { memorySize, iterations, parallelism, hashLength } = ARGON2_PARAMS;
  const hash = await argon2(password.slice(0, PASSWORD_MAX_CHARS * 2), {
    memorySize,
    iterations,
    parallelism,
    salt: DUMMY_SALT,
    hashLength,
  });
  constantTimeEqual(hash, new Uint8Array(hashLength));
  return false;
}

/**
 * Reads the cost parameters of a PHC string (for checks and rehash decisions).
 *
 * @returns `{memorySize, iterations, parallelism}`, or `undefined` if it is not argon2id v19.
 */
export function phcParams(
  phc: string,
): { memorySize: number; iterations: number; parallelism: number } | undefined {
  const match = PHC.exec(phc);
  if (!match) return undefined;
  return {
    memorySize: Number(match[1]),
    iterations: Number(match[2]),
    parallelism: Number(match[3]),
  };
}
