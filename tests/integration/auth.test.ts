/**
 * Accounts end to end against a real API and Redis: registration, sign-in,
 * /api/me, logout, the compatible /generate_token, input rules, the stored
 * password hash, and the sealed user backup.
 */
import assert from "node:assert/strict";
import { phcParams } from "../../auth/passwords.ts";
import { startTestServer, type TestServer } from "../test_server.ts";

const PASSWORD = "correct horse battery staple";

function post(server: TestServer, path: string, body: unknown, headers: HeadersInit = {}) {
  return fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function register(server: TestServer, username: string, password = PASSWORD) {
  const response = await post(server, "/api/auth/register", { username, password });
  return { status: response.status, body: await response.json() };
}

async function signIn(server: TestServer, username: string, password = PASSWORD): Promise<string> {
  const response = await post(server, "/api/auth/token", { username, password });
  assert.deepEqual(response.status, 200, await response.clone().text());
  return (await response.json()).access_token;
}

function me(server: TestServer, headers: HeadersInit, query = "") {
  return fetch(`${server.url}/api/me${query}`, { headers });
}

Deno.test("POST /api/auth/register, POST /api/auth/token and GET /api/me work together", async () => {
  await using server = await startTestServer();
  const created = await register(server, "Alice.B");
  assert.deepEqual(created.status, 201);
  assert.deepEqual(created.body.username, "alice.b");
  assert.match(created.body.id, /^[A-Za-z0-9_-]{22}$/);

  const response = await post(server, "/api/auth/token", {
    username: "ALICE.b",
    password: PASSWORD,
  });
  assert.deepEqual(response.status, 200);
  assert.deepEqual(response.headers.get("Cache-Control"), "no-store");
  const token = await response.json();
  assert.deepEqual(token.token_type, "Bearer");
  assert.deepEqual(token.expires_in, server.config.tokenTtlSeconds);

  const expected = {
    id: created.body.id,
    username: "alice.b",
    used_bytes: 0,
    quota_bytes: server.config.quotaBytes,
  };
  for (
    const [headers, query] of [
      [{ Authorization: `Bearer ${token.access_token}` }, ""],
      [{ Authorization: `bearer  ${token.access_token}` }, ""],
      [{ "x-access-tokens": token.access_token }, ""],
    ] as const
  ) {
    const answer = await me(server, headers, query);
    assert.deepEqual(answer.status, 200, `${JSON.stringify(headers)} ${query}`);
    assert.deepEqual(await answer.json(), expected);
  }
});

Deno.test("POST /api/auth/register answers 409 for a taken username, also when two race", async () => {
  await using server = await startTestServer();
  assert.deepEqual((await register(server, "bob")).status, 201);
  const again = await register(server, "BOB", "another password");
  assert.deepEqual(again.status, 409);
  assert.deepEqual(again.body.title, "Username already taken");

  const racing = await Promise.all([
    register(server, "carol", "first password"),
    register(server, "carol", "second password"),
  ]);
  assert.deepEqual(racing.map((r) => r.status).sort(), [201, 409]);
  const winner = racing.find((r) => r.status === 201)!;
  const stored = await server.services.users.findByUsername("carol");
  assert.deepEqual(stored?.id, winner.body.id);
  const winningPassword = racing[0].status === 201 ? "first password" : "second password";
  await signIn(server, "carol", winningPassword);
});

Deno.test("POST /api/auth/register refuses invalid usernames and passwords", async (t) => {
  await using server = await startTestServer();
  const cases: [string, unknown, number][] = [
    ["a two-character username", { username: "ab", password: PASSWORD }, 400],
    ["a 65-character username", { username: "a".repeat(65), password: PASSWORD }, 400],
    ["a username with a space", { username: "al ice", password: PASSWORD }, 400],
    ["a username with a slash", { username: "al/ice", password: PASSWORD }, 400],
    ["a non-ASCII username", { username: "alíce", password: PASSWORD }, 400],
    ["a Kelvin sign that lower-cases to k", { username: "\u212Aelvin", password: PASSWORD }, 400],
    ["an empty username", { username: "", password: PASSWORD }, 400],
    ["a 7-character password", { username: "dave", password: "1234567" }, 400],
    ["a 1025-character password", { username: "dave", password: "p".repeat(1025) }, 400],
    ["1025 emoji", { username: "dave", password: "🔑".repeat(1025) }, 400],
    ["a lone surrogate", { username: "dave", password: "abcdefgh\ud800" }, 400],
    ["a missing password", { username: "dave" }, 400],
    ["a number as password", { username: "dave", password: 12345678 }, 400],
    ["malformed JSON", '{"username": "dave", ', 400],
  ];
  for (const [name, body, status] of cases) {
    await t.step(`refuses ${name}`, async () => {
      const response = await post(server, "/api/auth/register", body);
      assert.deepEqual(response.status, status);
      assert.deepEqual(response.headers.get("Content-Type"), "application/problem+json");
      await response.body?.cancel();
    });
  }
  await t.step("refuses an over-long password in validation, before any hashing", async () => {
    const response = await post(server, "/api/auth/register", {
      username: "dave",
      password: "p".repeat(1025),
    });
    assert.match((await response.json()).detail, /at most 1024 characters/);
  });
  await t.step("refuses a body that is not JSON with 415", async () => {
    const response = await post(server, "/api/auth/register", "username=dave", {
      "Content-Type": "text/plain",
    });
    assert.deepEqual(response.status, 415);
    await response.body?.cancel();
  });
  await t.step("refuses a body over 16 KiB with 413", async () => {
    const response = await post(server, "/api/auth/register", {
      username: "dave",
      password: "p".repeat(20_000),
    });
    assert.deepEqual(response.status, 413);
    await response.body?.cancel();
  });
  await t.step(
    "accepts boundary lengths: 3 and 64 characters, 8 and 1024 (emoji count once)",
    async () => {
      assert.deepEqual((await register(server, "abc", "12345678")).status, 201);
      assert.deepEqual((await register(server, "a".repeat(64), "🔑".repeat(1024))).status, 201);
      await signIn(server, "a".repeat(64), "🔑".repeat(1024));
    },
  );
  assert.deepEqual(await server.services.users.findByUsername("dave"), undefined);
});

Deno.test("POST /api/auth/register stores an argon2id hash with m ≥ 19456 and t ≥ 2", async () => {
  await using server = await startTestServer();
  await register(server, "erin");
  const user = await server.services.users.findByUsername("erin");
  assert.ok(user, "the user exists");
  assert.ok(user.password_hash.startsWith("$argon2id$"), user.password_hash);
  const params = phcParams(user.password_hash)!;
  assert.ok(params.memorySize >= 19456, `m=${params.memorySize}`);
  assert.ok(params.iterations >= 2, `t=${params.iterations}`);
  assert.deepEqual(params.parallelism, 1);
  assert.ok(!user.password_hash.includes(PASSWORD));
});

Deno.test("POST /api/auth/token answers an unknown user and a wrong password identically", async () => {
  await using server = await startTestServer();
  await register(server, "frank");
  const answers = [];
  for (const username of ["frank", "nobody-here", "x"]) {
    const started = performance.now();
    const response = await post(server, "/api/auth/token", {
      username,
      password: "wrong password",
    });
    const ms = performance.now() - started;
    answers.push({
      status: response.status,
      type: response.headers.get("Content-Type"),
      body: await response.text(),
    });
    // Every path spends one argon2id hash (~50 ms here); an early return would take ~1 ms.
    assert.ok(ms >= 20, `${username} answered in ${ms.toFixed(1)} ms`);
  }
  assert.deepEqual(answers[0].status, 401);
  assert.deepEqual(answers[1], answers[0]);
  assert.deepEqual(answers[2], answers[0]);
  assert.deepEqual(JSON.parse(answers[0].body).title, "Invalid username or password");
});

Deno.test("POST /api/auth/token refuses a password over 1024 characters with 400", async () => {
  await using server = await startTestServer();
  const response = await post(server, "/api/auth/token", {
    username: "grace",
    password: "p".repeat(1025),
  });
  assert.deepEqual(response.status, 400);
  await response.body?.cancel();
});

Deno.test("POST /api/auth/register, /api/auth/token and /generate_token refuse bodies over 16 KiB with 413", async () => {
  await using server = await startTestServer();
  const body = JSON.stringify({
    username: "heidi",
    password: PASSWORD,
    padding: "x".repeat(20_000),
  });
  for (const path of ["/api/auth/register", "/api/auth/token", "/generate_token"]) {
    const response = await post(server, path, body);
    assert.equal(response.status, 413, path);
    assert.equal(response.headers.get("Content-Type"), "application/problem+json");
    const problem = await response.json();
    assert.equal(problem.title, "Request body too large");
    assert.equal(problem.detail, "Request bodies here are limited to 16384 bytes");
  }
  const status = (await register(server, "heidi")).status;
  assert.equal(status, 201, "nothing was registered by the refused request");
});

Deno.test("POST /api/auth/logout revokes only the token it was called with", async () => {
  await using server = await startTestServer();
  await register(server, "heidi");
  const first = await signIn(server, "heidi");
  const second = await signIn(server, "heidi");
  const logout = await fetch(`${server.url}/api/auth/logout`, {
    method: "POST",
    headers: { Authorization: `Bearer ${first}` },
  });
  assert.deepEqual(logout.status, 204);
  const refused = await me(server, { Authorization: `Bearer ${first}` });
  assert.deepEqual(refused.status, 401);
  assert.deepEqual(refused.headers.get("WWW-Authenticate"), 'Bearer realm="coffer"');
  await refused.body?.cancel();
  const still = await me(server, { Authorization: `Bearer ${second}` });
  assert.deepEqual(still.status, 200);
  await still.body?.cancel();
  const again = await fetch(`${server.url}/api/auth/logout`, {
    method: "POST",
    headers: { Authorization: `Bearer ${first}` },
  });
  assert.deepEqual(again.status, 401);
  await again.body?.cancel();
});

Deno.test("POST /generate_token accepts JSON, form and HTTP Basic credentials", async () => {
  await using server = await startTestServer();
  await register(server, "ivan", "pass:word with colon");
  const requests: [string, RequestInit][] = [
    ["JSON", {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "ivan", password: "pass:word with colon" }),
    }],
    ["form", {
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: "ivan", password: "pass:word with colon" }).toString(),
    }],
    ["Basic", { headers: { Authorization: `Basic ${btoa("ivan:pass:word with colon")}` } }],
  ];
  for (const [name, init] of requests) {
    const response = await fetch(`${server.url}/generate_token`, { method: "POST", ...init });
    assert.deepEqual(response.status, 200, name);
    const body = await response.json();
    assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "token_type"], name);
    const answer = await me(server, { Authorization: `Bearer ${body.access_token}` });
    assert.deepEqual(answer.status, 200, name);
    await answer.body?.cancel();
  }
  const wrong = await fetch(`${server.url}/generate_token`, {
    method: "POST",
    headers: { Authorization: `Basic ${btoa("ivan:wrong")}` },
  });
  assert.deepEqual(wrong.status, 401);
  await wrong.body?.cancel();
  const empty = await fetch(`${server.url}/generate_token`, { method: "POST" });
  assert.deepEqual(empty.status, 400);
  await empty.body?.cancel();
});

Deno.test("GET /api/me refuses a token of a deleted user", async () => {
  await using server = await startTestServer();
  const { body } = await register(server, "judy");
  const token = await signIn(server, "judy");
  assert.ok(await server.services.users.delete(body.id));
  const response = await me(server, { Authorization: `Bearer ${token}` });
  assert.deepEqual(response.status, 401);
  assert.deepEqual(response.headers.get("WWW-Authenticate"), 'Bearer realm="coffer"');
  await response.body?.cancel();
  assert.deepEqual(await server.services.users.readBackup(body.id), undefined);
});

Deno.test("GET /api/me refuses an Authorization header over 8 KiB before verifying it", async () => {
  await using server = await startTestServer();
  for (
    const headers of <HeadersInit[]> [
      { Authorization: `Bearer ${"a".repeat(8 * 1024)}` },
      { "x-access-tokens": "a".repeat(8 * 1024 + 1) },
    ]
  ) {
    const response = await me(server, headers);
    assert.deepEqual(response.status, 431);
    await response.body?.cancel();
  }
});

Deno.test("GET /api/me refuses ?access_token= on other methods than GET", async () => {
  await using server = await startTestServer();
  await register(server, "ken");
  const token = await signIn(server, "ken");
  const response = await fetch(`${server.url}/api/auth/logout?access_token=${token}`, {
    method: "POST",
  });
  assert.deepEqual(response.status, 401);
  await response.body?.cancel();
});

Deno.test("GET /openapi.json documents the auth routes and the bearer scheme", async () => {
  await using server = await startTestServer();
  const response = await fetch(`${server.url}/openapi.json`);
  assert.equal(response.status, 200);
  const document = await response.json();
  for (const path of ["/api/auth/register", "/api/auth/token", "/api/auth/logout", "/api/me"]) {
    assert.ok(document.paths[path], path);
  }
  assert.ok(document.paths["/generate_token"]);
  assert.deepEqual(document.paths["/api/me"].get.security, [{ bearerAuth: [] }]);
  assert.equal(document.components.securitySchemes.bearerAuth.scheme, "bearer");
  assert.equal(document.components.securitySchemes.bearerAuth.bearerFormat, "JWT");
});
