/**
 * RateLimiter's rule validation (the Redis behaviour is covered in
 * tests/integration/auth_rate_limit.test.ts).
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { DEFAULT_RATE_LIMITS, RateLimiter } from "../../../auth/rate_limit.ts";

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
  for (const rule of Object.values(DEFAULT_RATE_LIMITS)) new RateLimiter(redis, "default", rule);
});
