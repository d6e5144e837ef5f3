/**
 * The few assertions the crypto tests need, named like @std/assert (which is
 * not reachable from this environment), built on node:assert.
 *
 * @module
 */

import { fail } from "node:assert";
import { inspect, isDeepStrictEqual } from "node:util";

export function assert(condition: unknown, message = "Assertion failed"): asserts condition {
  if (!condition) fail(message);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    const detail = `expected ${inspect(expected)}, got ${inspect(actual)}`;
    fail(message ? `${message}: ${detail}` : `Values differ: ${detail}`);
  }
}

export function assertInstanceOf<T>(
  value: unknown,
  // deno-lint-ignore no-explicit-any
  type: abstract new (...args: any[]) => T,
  message?: string,
): asserts value is T {
  if (!(value instanceof type)) {
    fail(message ?? `Expected an instance of ${type.name}, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  return value instanceof Error ? `${value.name}: ${value.message}` : String(value);
}

export function assertThrows<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  type: abstract new (...args: any[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (error) {
    assertInstanceOf(error, type);
    if (includes) {
      assert(error.message.includes(includes), `"${error.message}" lacks "${includes}"`);
    }
    return error;
  }
  fail(`Expected ${type.name} to be thrown`);
}

export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: abstract new (...args: any[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    assertInstanceOf(error, type);
    if (includes) {
      assert(error.message.includes(includes), `"${error.message}" lacks "${includes}"`);
    }
    return error;
  }
  fail(`Expected ${type.name} to be thrown`);
}
