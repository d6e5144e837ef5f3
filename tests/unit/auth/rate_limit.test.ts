/**
 * RateLimiter's rule validation (the Redis behaviour is covered in
 * tests/integration/auth_rate_limit.test.ts).
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import {
  checkSlowdownRule,
  DEFAULT_RATE_LIMITS,
  RateLimiter,
  slowdownMs,
} from "../../../auth/rate_limit.ts";

Deno.test("new RateLimiter() refuses rules that are not positive integers", async (t) => {
  const redis = {} as Redis;
  const cases = [
    { limit: 0, windowMs: 1000 },
    { limit: 1, windowMs: 0 },
    { limit: 1.5, windowMs: 1000 },
    { limit: 1, windowMs: Number.NaN },
  ];
  for (const rule of cases) {
    await t.step(JSON.stringify(rule), () => {
      assert.throws(() => new RateLimiter(redis, "test", rule), RangeError);
    });
  }
  const { loginSlowdown: _, ...rules } = DEFAULT_RATE_LIMITS;
  for (const rule of Object.values(rules)) new RateLimiter(redis, "default", rule);
});

Deno.test("slowdownMs() adds nothing up to the limit, then a step per event, capped", async (t) => {
  const rule = { limit: 10, windowMs: 900_000 };
  const slowdown = { stepMs: 200, maxMs: 2000 };
  const cases: [number, number][] = [
    [0, 0],
    [1, 0],
    [9, 0],
    [10, 0],
    [11, 200],
    [12, 400],
    [19, 1800],
    [20, 2000],
    [21, 2000],
    [1_000_000, 2000],
  ];
  for (const [count, expected] of cases) {
    await t.step(`event ${count} waits ${expected} ms`, () => {
      assert.equal(slowdownMs(count, rule, slowdown), expected);
    });
  }
  assert.equal(
    slowdownMs(10_000, rule, DEFAULT_RATE_LIMITS.loginSlowdown),
    2000,
    "the default cap",
  );
});

Deno.test("checkSlowdownRule() refuses negative or fractional delays", () => {
  for (
    const slowdown of [{ stepMs: -1, maxMs: 10 }, { stepMs: 1, maxMs: 1.5 }, {
      stepMs: 1,
      maxMs: NaN,
    }]
  ) {
    assert.throws(() => checkSlowdownRule(slowdown), RangeError, JSON.stringify(slowdown));
  }
  assert.deepEqual(checkSlowdownRule({ stepMs: 0, maxMs: 0 }), { stepMs: 0, maxMs: 0 });
});
