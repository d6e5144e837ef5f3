/**
 * Every kind of bad token is refused by the auth middleware with the same
 * 401 problem and `WWW-Authenticate: Bearer`, including tokens signed with
 * the real secret whose lifetime exceeds the TTL or whose `iat` is ahead; a
 * token expired by less than the clock tolerance still works.
 */
import assert from "node:assert/strict";
import { base64url, generateKeyPair, SignJWT } from "jose";
import { CLOCK_TOLERANCE_SECONDS } from "../../auth/tokens.ts";
import { randomBytes } from "../helpers.ts";
import { startTestServer, type TestServer } from "../test_server.ts";

const PASSWORD = "correct horse battery staple";

async function signUp(
  server: TestServer,
  username: string,
): Promise<{ id: string; token: string }> {
  const headers = { "Content-Type": "application/json" };
  const body = JSON.stringify({ username, password: PASSWORD });
  const created = await fetch(`${server.url}/api/auth/register`, { method: "POST", headers, body });
  assert.equal(created.status, 201);
  const { id } = await created.json();
  const issued = await fetch(`${server.url}/api/auth/token`, { method: "POST", headers, body });
  assert.equal(issued.status, 200);
  return { id, token: (await issued.json()).access_token };
}

type Claims = Record<string, unknown>;

/** Signs `claims` (undefined values are left out) with HS256 and the server's secret. */
function sign(
  claims: Claims,
  key: Parameters<SignJWT["sign"]>[0],
  header: Record<string, unknown> = { alg: "HS256", typ: "JWT" },
): Promise<string> {
  const present = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  return new SignJWT(present).setProtectedHeader(header as { alg: string }).sign(key);
}

function encodeJson(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

async function getMe(server: TestServer, token?: string): Promise<Response> {
  const headers: HeadersInit = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  return await fetch(`${server.url}/api/me`, { headers });
}

Deno.test("GET /api/me refuses every bad token with the same 401", async (t) => {
  await using server = await startTestServer();
  const alice = await signUp(server, "alice");
  const bob = await signUp(server, "bob");
  const secret = server.services.secrets.jwtSecret;
  const ttl = server.config.tokenTtlSeconds;
  const now = Math.floor(Date.now() / 1000);
  const valid: Claims = {
    sub: alice.id,
    iat: now,
    exp: now + 600,
    jti: crypto.randomUUID(),
    iss: "coffer",
    aud: "coffer-api",
  };
  const without = (name: string) => ({ ...valid, [name]: undefined });

  const baseline = await getMe(server);
  assert.equal(baseline.status, 401);
  const expectedBody = await baseline.text();

  const [header, payload, signature] = alice.token.split(".");
  const tampered = encodeJson({
    ...JSON.parse(new TextDecoder().decode(base64url.decode(payload))),
    sub: bob.id,
  });
  const rsa = await generateKeyPair("RS256");
  const ec = await generateKeyPair("ES256");

  const cases: [string, () => Promise<string | undefined>][] = [
    ["no token", () => Promise.resolve(undefined)],
    ["garbage", () => Promise.resolve("not-a-token")],
    ["three garbage segments", () => Promise.resolve("a.b.c")],
    [
      "alg: none",
      () => Promise.resolve(`${encodeJson({ alg: "none", typ: "JWT" })}.${encodeJson(valid)}.`),
    ],
    [
      "alg: none with the original signature",
      () => Promise.resolve(`${encodeJson({ alg: "none", typ: "JWT" })}.${payload}.${signature}`),
    ],
    ["HS256 signed with another secret", () => sign(valid, randomBytes(32))],
    ["HS384 signed with the right secret", () => sign(valid, secret, { alg: "HS384", typ: "JWT" })],
    ["RS256", () => sign(valid, rsa.privateKey, { alg: "RS256", typ: "JWT" })],
    ["ES256", () => sign(valid, ec.privateKey, { alg: "ES256", typ: "JWT" })],
    ["a missing exp", () => sign(without("exp"), secret)],
    ["a missing iat", () => sign(without("iat"), secret)],
    ["a missing jti", () => sign(without("jti"), secret)],
    ["a missing sub", () => sign(without("sub"), secret)],
    ["a missing iss", () => sign(without("iss"), secret)],
    ["a missing aud", () => sign(without("aud"), secret)],
    [
      "an expired token past the tolerance",
      () => sign({ ...valid, iat: now - 3600, exp: now - CLOCK_TOLERANCE_SECONDS - 5 }, secret),
    ],
    ["nbf in the future", () => sign({ ...valid, nbf: now + 300 }, secret)],
    // Signed with the real secret, but no Coffer process with this TTL would issue them.
    ["exp 30 days ahead", () => sign({ ...valid, exp: now + 30 * 24 * 3600 }, secret)],
    [
      "a lifetime of the TTL + tolerance + 1 s",
      () => sign({ ...valid, exp: now + ttl + CLOCK_TOLERANCE_SECONDS + 1 }, secret),
    ],
    [
      "iat in the future beyond the tolerance",
      () => sign({ ...valid, iat: now + 300, exp: now + 600 }, secret),
    ],
    ["a wrong iss", () => sign({ ...valid, iss: "someone-else" }, secret)],
    ["a wrong aud", () => sign({ ...valid, aud: "another-api" }, secret)],
    ["a numeric sub", () => sign({ ...valid, sub: 42 }, secret)],
    ["an unknown sub", () => sign({ ...valid, sub: "AAAAAAAAAAAAAAAAAAAAAA" }, secret)],
    ["a typ other than JWT", () => sign(valid, secret, { alg: "HS256", typ: "at+jwt" })],
    [
      "a modified payload with the original signature",
      () => Promise.resolve(`${header}.${tampered}.${signature}`),
    ],
    ["a truncated signature", () => Promise.resolve(alice.token.slice(0, -2))],
  ];
  for (const [name, make] of cases) {
    await t.step(`refuses ${name}`, async () => {
      const response = await getMe(server, await make());
      assert.equal(response.status, 401);
      assert.equal(response.headers.get("WWW-Authenticate"), 'Bearer realm="coffer"');
      assert.equal(response.headers.get("Content-Type"), "application/problem+json");
      assert.equal(await response.text(), expectedBody);
    });
  }

  await t.step("refuses a token after logout", async () => {
    const logout = await fetch(`${server.url}/api/auth/logout`, {
      method: "POST",
      headers: { Authorization: `Bearer ${bob.token}` },
    });
    assert.equal(logout.status, 204);
    const response = await getMe(server, bob.token);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("WWW-Authenticate"), 'Bearer realm="coffer"');
    assert.equal(await response.text(), expectedBody);
  });

  await t.step("accepts a token expired by less than the tolerance", async () => {
    const token = await sign(
      { ...valid, iat: now - 3600, exp: now - CLOCK_TOLERANCE_SECONDS + 10 },
      secret,
    );
    const response = await getMe(server, token);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).id, alice.id);
  });

  await t.step("accepts a token whose lifetime is exactly the TTL", async () => {
    const response = await getMe(server, await sign({ ...valid, exp: now + ttl }, secret));
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });

  await t.step("accepts a well-formed token signed with the server's secret", async () => {
    const response = await getMe(server, await sign(valid, secret));
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });
});

Deno.test("POST /api/auth/logout keeps a revoked token refused while it is within the tolerance", async () => {
  await using server = await startTestServer();
  const alice = await signUp(server, "alice");
  const now = Math.floor(Date.now() / 1000);
  const token = await sign({
    sub: alice.id,
    iat: now - 3600,
    exp: now - 5,
    jti: crypto.randomUUID(),
    iss: "coffer",
    aud: "coffer-api",
  }, server.services.secrets.jwtSecret);
  const logout = await fetch(`${server.url}/api/auth/logout`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(logout.status, 204);
  const response = await getMe(server, token);
  assert.equal(response.status, 401);
  await response.body?.cancel();
});
