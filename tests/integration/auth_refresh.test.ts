/**
 * Refresh tokens end to end against real Redis (SPEC section 11): sign-in
 * returns one, refresh rotates it, a spent one presented again revokes its
 * whole sign-in (the newest refresh token and its access tokens included)
 * while other sign-ins carry on, logout revokes the family, every bad refresh
 * token gets the same 401 body, failed refreshes are rate-limited per
 * address, the page's cookie form, and access tokens whose lifetime exceeds
 * the configured one.
 */
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { SignJWT } from "jose";
import type { AppEnv } from "../../routes/env.ts";
import { createErrorHandler } from "../../routes/problem.ts";
import { refreshRoutes } from "../../routes/refresh.ts";
import { REFRESH_TOKEN_PATTERN } from "../../storage/refresh_store.ts";
import { startTestServer, type TestServer } from "../test_server.ts";

const PASSWORD = "correct horse battery staple";
const JSON_HEADERS = { "Content-Type": "application/json" };

interface Pair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  refresh_expires_in: number;
}

async function register(server: TestServer, username: string): Promise<string> {
  const response = await fetch(`${server.url}/api/auth/register`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  assert.equal(response.status, 201);
  return (await response.json()).id;
}

async function signIn(server: TestServer, username: string): Promise<Pair> {
  const response = await fetch(`${server.url}/api/auth/token`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  assert.equal(response.status, 200);
  return await response.json();
}

function refresh(url: string, token: string): Promise<Response> {
  return fetch(`${url}/api/auth/refresh`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ refresh_token: token }),
  });
}

async function refreshed(server: TestServer, token: string): Promise<Pair> {
  const response = await refresh(server.url, token);
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json();
}

async function refusedBody(response: Response): Promise<string> {
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("Content-Type"), "application/problem+json");
  return await response.text();
}

async function meStatus(server: TestServer, accessToken: string): Promise<number> {
  const response = await fetch(`${server.url}/api/me`, {
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  await response.body?.cancel();
  return response.status;
}

Deno.test("POST /api/auth/refresh rotates: a new pair, and the old refresh token is spent", async () => {
  await using server = await startTestServer();
  await register(server, "alice");
  const first = await signIn(server, "alice");
  assert.match(first.refresh_token, REFRESH_TOKEN_PATTERN);
  assert.equal(first.refresh_expires_in, 14 * 24 * 3600);
  assert.equal(first.expires_in, 3600);
  const second = await refreshed(server, first.refresh_token);
  assert.match(second.refresh_token, REFRESH_TOKEN_PATTERN);
  assert.notEqual(second.refresh_token, first.refresh_token);
  assert.notEqual(second.access_token, first.access_token);
  assert.equal(second.refresh_expires_in, 14 * 24 * 3600);
  assert.equal(await meStatus(server, second.access_token), 200);
  const third = await refreshed(server, second.refresh_token);
  assert.equal(await meStatus(server, third.access_token), 200);
  // Redis holds hashes only: no refresh token appears in any key or value.
  const keys = await server.services.redis.keys(`${server.config.redisPrefix}:refresh:*`);
  assert.equal(keys.length, 3);
  for (const key of keys) {
    const fields = await server.services.redis.hgetall(
      key.slice(server.config.redisPrefix.length + 1),
    );
    assert.deepEqual(Object.keys(fields).sort(), ["exp", "family", "state", "user"]);
    assert.ok(!key.includes(first.refresh_token.slice(4)));
  }
});

Deno.test("refresh: reusing a spent token revokes its sign-in; another sign-in is untouched", async () => {
  await using server = await startTestServer();
  await register(server, "alice");
  const stolen = await signIn(server, "alice");
  const other = await signIn(server, "alice"); // a second device
  const next = await refreshed(server, stolen.refresh_token);
  const newest = await refreshed(server, next.refresh_token);
  assert.equal(await meStatus(server, newest.access_token), 200);

  // The spent first token comes back (an attacker's copy, or the victim's): refused…
  await refusedBody(await refresh(server.url, stolen.refresh_token));
  // …and the whole family with it: the newest refresh token and its access tokens.
  await refusedBody(await refresh(server.url, newest.refresh_token));
  assert.equal(await meStatus(server, newest.access_token), 401);
  assert.equal(await meStatus(server, next.access_token), 401);
  assert.equal(await meStatus(server, stolen.access_token), 401);
  assert.ok(server.logs.some((line) => JSON.parse(line).event === "auth.refresh_reused"));

  // The other sign-in carries on.
  assert.equal(await meStatus(server, other.access_token), 200);
  const otherNext = await refreshed(server, other.refresh_token);
  assert.equal(await meStatus(server, otherNext.access_token), 200);
});

Deno.test("logout revokes the access token and every token of its sign-in", async () => {
  await using server = await startTestServer();
  await register(server, "alice");
  const first = await signIn(server, "alice");
  const other = await signIn(server, "alice");
  const current = await refreshed(server, first.refresh_token);
  const logout = await fetch(`${server.url}/api/auth/logout`, {
    method: "POST",
    headers: { Authorization: `Bearer ${current.access_token}` },
  });
  assert.equal(logout.status, 204);
  assert.equal(await meStatus(server, current.access_token), 401);
  assert.equal(await meStatus(server, first.access_token), 401, "an older token of the session");
  await refusedBody(await refresh(server.url, current.refresh_token));
  assert.equal(await meStatus(server, other.access_token), 200);
  await refreshed(server, other.refresh_token);
});

Deno.test("refresh: malformed, unknown, expired, spent and revoked tokens get the same 401 body", async () => {
  await using server = await startTestServer({ config: { refreshTtlSeconds: 2 } });
  await register(server, "alice");
  const expiring = await signIn(server, "alice");
  const spent = await signIn(server, "alice");
  await refreshed(server, spent.refresh_token);
  const revoked = await signIn(server, "alice");
  await (await fetch(`${server.url}/api/auth/logout`, {
    method: "POST",
    headers: { Authorization: `Bearer ${revoked.access_token}` },
  })).body?.cancel();
  await new Promise((resolve) => setTimeout(resolve, 2200));
  const fresh = await signIn(server, "alice"); // proves the server still refreshes
  const cases: Record<string, () => Promise<Response>> = {
    malformed: () => refresh(server.url, "not a token"),
    empty: () => refresh(server.url, ""),
    unknown: () => refresh(server.url, `crt_${"A".repeat(43)}`),
    expired: () => refresh(server.url, expiring.refresh_token),
    spent: () => refresh(server.url, spent.refresh_token),
    revoked: () => refresh(server.url, revoked.refresh_token),
    "no body, no cookie": () => fetch(`${server.url}/api/auth/refresh`, { method: "POST" }),
  };
  const bodies = new Map<string, string>();
  for (const [name, send] of Object.entries(cases)) {
    bodies.set(name, await refusedBody(await send()));
  }
  assert.equal(new Set(bodies.values()).size, 1, JSON.stringify([...bodies]));
  const problem = JSON.parse(bodies.get("unknown")!);
  assert.equal(problem.type, "https://coffer.invalid/problems/invalid-refresh-token");
  assert.ok(!JSON.stringify(problem).includes("crt_"));
  await refreshed(server, fresh.refresh_token);
});

Deno.test("refresh: failed attempts are rate-limited per address; successes are not counted", async () => {
  await using server = await startTestServer();
  await register(server, "alice");
  const app = new OpenAPIHono<AppEnv>();
  app.onError(createErrorHandler(server.services.log));
  let address = "192.0.2.1";
  app.route(
    "/",
    refreshRoutes(server.services, {
      limit: { limit: 3, windowMs: 60_000 },
      clientAddress: () => address,
    }),
  );
  await using http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${http.addr.port}`;
  let pair = await signIn(server, "alice");
  for (let i = 0; i < 5; i++) {
    const ok = await refresh(url, pair.refresh_token);
    assert.equal(ok.status, 200);
    pair = await ok.json();
  }
  for (let i = 0; i < 3; i++) await refusedBody(await refresh(url, `crt_${"B".repeat(43)}`));
  const limited = await refresh(url, pair.refresh_token);
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get("Retry-After")) > 0);
  await limited.body?.cancel();
  address = "192.0.2.2"; // another address is not affected
  assert.equal((await refresh(url, pair.refresh_token)).status, 200);
});

function cookieOf(response: Response): string {
  const cookies = response.headers.getSetCookie().filter((c) => c.startsWith("coffer_refresh="));
  assert.equal(cookies.length, 1, JSON.stringify(response.headers.getSetCookie()));
  return cookies[0];
}

Deno.test("the page's form: refresh token only in an HttpOnly SameSite=Strict cookie on /api/auth", async () => {
  await using server = await startTestServer();
  await register(server, "alice");
  const signedIn = await fetch(`${server.url}/api/auth/token`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ username: "alice", password: PASSWORD, refresh_cookie: true }),
  });
  assert.equal(signedIn.status, 200);
  const body = await signedIn.json();
  assert.equal(body.refresh_token, undefined, "the page's script never sees it");
  assert.equal(body.refresh_expires_in, 14 * 24 * 3600);
  const cookie = cookieOf(signedIn);
  assert.match(cookie, /; HttpOnly/);
  assert.match(cookie, /; SameSite=Strict/);
  assert.match(cookie, /; Path=\/api\/auth(;|$)/);
  assert.match(cookie, /; Max-Age=1209600/);
  assert.doesNotMatch(cookie, /; Secure/, "plain http: a Secure cookie would not come back");
  const value = cookie.split(";")[0];

  const renewed = await fetch(`${server.url}/api/auth/refresh`, {
    method: "POST",
    headers: { Cookie: value, "X-Forwarded-Proto": "https" },
  });
  assert.equal(renewed.status, 200);
  const renewedBody = await renewed.json();
  assert.equal(renewedBody.refresh_token, undefined);
  assert.equal(await meStatus(server, renewedBody.access_token), 200);
  const next = cookieOf(renewed);
  assert.match(next, /; Secure/, "behind an https proxy");
  assert.notEqual(next.split(";")[0], value);

  // The spent cookie again: refused, and the browser is told to drop it.
  const replay = await fetch(`${server.url}/api/auth/refresh`, {
    method: "POST",
    headers: { Cookie: value },
  });
  await refusedBody(replay);
  assert.match(cookieOf(replay), /Max-Age=0/);

  // Logout with the cookie clears it (and revokes the family).
  const again = await fetch(`${server.url}/api/auth/token`, {
    method: "POST",
    headers: JSON_HEADERS,
    body: JSON.stringify({ username: "alice", password: PASSWORD, refresh_cookie: true }),
  });
  const { access_token } = await again.json();
  const again_cookie = cookieOf(again).split(";")[0];
  const logout = await fetch(`${server.url}/api/auth/logout`, {
    method: "POST",
    headers: { Authorization: `Bearer ${access_token}`, Cookie: again_cookie },
  });
  assert.equal(logout.status, 204);
  assert.match(cookieOf(logout), /Max-Age=0/);
  await refusedBody(
    await fetch(`${server.url}/api/auth/refresh`, {
      method: "POST",
      headers: { Cookie: again_cookie },
    }),
  );
});

Deno.test("access tokens: iat in the future or exp − iat over the TTL are refused", async () => {
  await using server = await startTestServer({ config: { tokenTtlSeconds: 600 } });
  const id = await register(server, "alice");
  const secret = server.services.secrets.jwtSecret;
  const now = Math.floor(Date.now() / 1000);
  const sign = (iat: number, exp: number) =>
    new SignJWT({ sub: id, jti: crypto.randomUUID(), iss: "coffer", aud: "coffer-api" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(secret);
  assert.equal(await meStatus(server, await sign(now, now + 600)), 200);
  assert.equal(await meStatus(server, await sign(now, now + 630)), 200, "within the leeway");
  assert.equal(await meStatus(server, await sign(now, now + 631)), 401, "lifetime over TTL");
  assert.equal(await meStatus(server, await sign(now - 100, now + 24 * 3600)), 401);
  assert.equal(await meStatus(server, await sign(now + 300, now + 600)), 401, "iat in the future");
  assert.equal(await meStatus(server, await sign(now + 20, now + 600)), 200, "skew within leeway");
});
