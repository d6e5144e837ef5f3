/**
 * argon2id password hashing: length rules in code points, the PHC string and
 * its OWASP parameters, verification, and the dummy hash that evens out the
 * timing of unknown usernames.
 */
import assert from "node:assert/strict";
import {
  ARGON2_PARAMS,
  checkPassword,
  constantTimeEqual,
  hashPassword,
  phcParams,
  verifyDummy,
  verifyPassword,
} from "../../../auth/passwords.ts";

const PHC = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

Deno.test("checkPassword() sweeps the length boundaries in code points", async (t) => {
  const cases: [string, string, boolean][] = [
    ["empty", "", false],
    ["7 characters", "a".repeat(7), false],
    ["8 characters", "a".repeat(8), true],
    ["1024 characters", "a".repeat(1024), true],
    ["1025 characters", "a".repeat(1025), false],
    ["8 emoji (16 UTF-16 units)", "🔑".repeat(8), true],
    ["4 emoji (8 UTF-16 units)", "🔑".repeat(4), false],
    ["1024 emoji (2048 UTF-16 units)", "🔑".repeat(1024), true],
    ["1025 emoji", "🔑".repeat(1025), false],
    ["a lone high surrogate", "abcdefgh\ud800", false],
    ["a lone low surrogate", "\udc00abcdefgh", false],
    ["spaces only", " ".repeat(8), true],
    ["100 kB", "a".repeat(100_000), false],
  ];
  for (const [name, password, ok] of cases) {
    await t.step(`${ok ? "accepts" : "refuses"} ${name}`, () => {
      assert.equal(
        checkPassword(password) === undefined,
        ok,
        checkPassword(password) ?? "accepted",
      );
    });
  }
});

Deno.test("hashPassword() writes an argon2id PHC string with OWASP parameters", async () => {
  const phc = await hashPassword("correct horse battery staple");
  assert.match(phc, PHC);
  assert.deepEqual(phcParams(phc), { memorySize: 19456, iterations: 2, parallelism: 1 });
  assert.notEqual(await hashPassword("correct horse battery staple"), phc, "salts differ");
  assert.equal(ARGON2_PARAMS.hashLength, 32);
});

Deno.test("hashPassword() refuses passwords outside 8–1024 characters instead of truncating", async () => {
  await assert.rejects(hashPassword("a".repeat(1025)), RangeError);
  await assert.rejects(hashPassword("short"), RangeError);
});

Deno.test("verifyPassword() accepts the password and refuses any other", async (t) => {
  const long = "x".repeat(1023);
  const phc = await hashPassword(long + "a");
  await t.step("accepts the exact password", async () => {
    assert.equal(await verifyPassword(long + "a", phc), true);
  });
  await t.step("refuses a password differing only in its last (1024th) character", async () => {
    assert.equal(await verifyPassword(long + "b", phc), false);
  });
  await t.step("refuses the password without its last character", async () => {
    assert.equal(await verifyPassword(long, phc), false);
  });
  await t.step("refuses a tampered hash", async () => {
    const tampered = phc.slice(0, -2) + (phc.endsWith("AA") ? "BA" : "AA");
    assert.equal(await verifyPassword(long + "a", tampered), false);
  });
  await t.step("refuses a malformed or foreign PHC string", async () => {
    assert.equal(await verifyPassword(long + "a", "not a hash"), false);
    assert.equal(await verifyPassword(long + "a", phc.replace("argon2id", "argon2i")), false);
  });
});

Deno.test("verifyPassword() hashes non-ASCII passwords as UTF-8 without normalising", async () => {
  const composed = "pässwörd-é";
  const decomposed = composed.normalize("NFD");
  const phc = await hashPassword(composed);
  assert.equal(await verifyPassword(composed, phc), true);
  assert.equal(await verifyPassword(decomposed, phc), false);
});

Deno.test("verifyDummy() always fails and costs about as much as verifyPassword()", async () => {
  const phc = await hashPassword("correct horse battery staple");
  // The fastest of three runs, so a busy machine does not decide the result.
  const fastest = async (run: () => Promise<unknown>) => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await run();
      best = Math.min(best, performance.now() - started);
    }
    return best;
  };
  const real = await fastest(() => verifyPassword("wrong password", phc));
  const dummy = await fastest(() => verifyDummy("wrong password"));
  assert.equal(await verifyDummy("correct horse battery staple"), false);
  assert.ok(dummy > real * 0.4 && dummy < real * 2.5, `dummy ${dummy} ms vs real ${real} ms`);
});

Deno.test("constantTimeEqual() compares bytes", async (t) => {
  const cases: [string, number[], number[], boolean][] = [
    ["two empty arrays", [], [], true],
    ["equal bytes", [1, 2, 3], [1, 2, 3], true],
    ["a different last byte", [1, 2, 3], [1, 2, 4], false],
    ["a different first byte", [0, 2, 3], [1, 2, 3], false],
    ["different lengths", [1, 2], [1, 2, 3], false],
  ];
  for (const [name, a, b, equal] of cases) {
    await t.step(name, () => {
      assert.equal(constantTimeEqual(new Uint8Array(a), new Uint8Array(b)), equal);
    });
  }
});
