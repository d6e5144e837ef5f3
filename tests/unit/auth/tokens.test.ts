/**
 * JWT issue and verify with jose: the claims and header, the secret length,
 * the expiry and not-before boundaries around the clock tolerance, and tokens
 * signed with the real secret that no Coffer process would issue (a lifetime
 * over the TTL, an `iat` in the future).
 */
import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import {
  CLOCK_TOLERANCE_SECONDS,
  InvalidTokenError,
  issueToken,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  verifyToken,
} from "../../../auth/tokens.ts";

const secret = crypto.getRandomValues(new Uint8Array(32));
const NOW = new Date("2030-01-01T00:00:00Z");
const at = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);
const TTL = 3600;
const POLICY = { maxLifetimeSeconds: TTL };

Deno.test("issueToken() signs HS256 with typ JWT and every required claim", async () => {
  const issued = await issueToken(secret, "user-1", 3600, NOW);
  assert.deepEqual(decodeProtectedHeader(issued.token), { alg: "HS256", typ: "JWT" });
  const claims = decodeJwt(issued.token);
  assert.deepEqual(Object.keys(claims).sort(), ["aud", "exp", "iat", "iss", "jti", "sub"]);
  assert.equal(claims.sub, "user-1");
  assert.equal(claims.iss, TOKEN_ISSUER);
  assert.equal(claims.aud, TOKEN_AUDIENCE);
  assert.equal(claims.iat, NOW.getTime() / 1000);
  assert.equal(claims.exp, NOW.getTime() / 1000 + 3600);
  assert.match(String(claims.jti), /^[A-Za-z0-9_-]{22}$/);
  assert.notEqual((await issueToken(secret, "user-1", 3600, NOW)).jti, issued.jti);
});

Deno.test("issueToken() refuses a secret shorter than 32 bytes", async () => {
  await assert.rejects(issueToken(new Uint8Array(31), "user-1", 60), RangeError);
});

Deno.test("verifyToken() sweeps the expiry boundary with the clock tolerance", async (t) => {
  const { token, sub, jti } = await issueToken(secret, "user-1", 60, NOW);
  const cases: [string, number, boolean][] = [
    ["at issue", 0, true],
    ["at exp", 60, true],
    ["tolerance − 1 s after exp", 60 + CLOCK_TOLERANCE_SECONDS - 1, true],
    ["exactly the tolerance after exp", 60 + CLOCK_TOLERANCE_SECONDS, false],
    ["tolerance + 1 s after exp", 60 + CLOCK_TOLERANCE_SECONDS + 1, false],
    ["an hour after exp", 3660, false],
  ];
  for (const [name, offset, ok] of cases) {
    await t.step(`${ok ? "accepts" : "refuses"} a token ${name}`, async () => {
      if (ok) {
        const claims = await verifyToken(secret, token, {
          maxLifetimeSeconds: 60,
          now: at(offset),
        });
        assert.equal(claims.sub, sub);
        assert.equal(claims.jti, jti);
      } else {
        await assert.rejects(
          verifyToken(secret, token, { maxLifetimeSeconds: 60, now: at(offset) }),
          InvalidTokenError,
        );
      }
    });
  }
});

Deno.test("verifyToken() refuses nbf beyond the tolerance and a wrong secret", async () => {
  const iat = NOW.getTime() / 1000;
  const base = { sub: "u", jti: "j", iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat, exp: iat + 600 };
  const sign = (claims: object, key = secret) =>
    new SignJWT({ ...claims }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
  const early = await sign({ ...base, nbf: iat + CLOCK_TOLERANCE_SECONDS + 5 });
  await assert.rejects(verifyToken(secret, early, { ...POLICY, now: NOW }), InvalidTokenError);
  assert.equal(
    (await verifyToken(secret, early, { ...POLICY, now: at(CLOCK_TOLERANCE_SECONDS + 5) })).sub,
    "u",
  );
  const other = await sign(base, crypto.getRandomValues(new Uint8Array(32)));
  await assert.rejects(verifyToken(secret, other, { ...POLICY, now: NOW }), InvalidTokenError);
  const longJti = await sign({ ...base, jti: "j".repeat(129) });
  await assert.rejects(verifyToken(secret, longJti, { ...POLICY, now: NOW }), InvalidTokenError);
});

Deno.test("verifyToken() refuses a well-signed token whose lifetime exceeds the TTL or whose iat is ahead", async (t) => {
  const iat = NOW.getTime() / 1000;
  const sign = (claims: { iat: number; exp: number }) =>
    new SignJWT({ sub: "u", jti: "j", iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, ...claims })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret);
  const cases: [string, { iat: number; exp: number }, boolean][] = [
    ["a lifetime of exactly the TTL", { iat, exp: iat + TTL }, true],
    ["a lifetime of TTL + tolerance", { iat, exp: iat + TTL + CLOCK_TOLERANCE_SECONDS }, true],
    [
      "a lifetime of TTL + tolerance + 1 s",
      { iat, exp: iat + TTL + CLOCK_TOLERANCE_SECONDS + 1 },
      false,
    ],
    ["exp 30 days ahead", { iat, exp: iat + 30 * 24 * 3600 }, false],
    ["iat 30 days back, exp 30 days ahead", { iat: iat - 2_592_000, exp: iat + 2_592_000 }, false],
    ["iat the tolerance ahead", { iat: iat + CLOCK_TOLERANCE_SECONDS, exp: iat + 600 }, true],
    [
      "iat the tolerance + 1 s ahead",
      { iat: iat + CLOCK_TOLERANCE_SECONDS + 1, exp: iat + 600 },
      false,
    ],
    ["iat a day ahead", { iat: iat + 86_400, exp: iat + 86_400 + 600 }, false],
  ];
  for (const [name, claims, ok] of cases) {
    await t.step(`${ok ? "accepts" : "refuses"} ${name}`, async () => {
      const token = await sign(claims);
      const verifying = verifyToken(secret, token, { ...POLICY, now: NOW });
      if (ok) assert.equal((await verifying).sub, "u");
      else await assert.rejects(verifying, InvalidTokenError);
    });
  }
  await t.step("a token issued by issueToken() with the TTL is accepted", async () => {
    const { token } = await issueToken(secret, "user-1", TTL, NOW);
    assert.equal((await verifyToken(secret, token, { ...POLICY, now: NOW })).sub, "user-1");
  });
});
