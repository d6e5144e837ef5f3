/**
 * Login and registration throttling against real Redis, with the auth
 * routes mounted on their own server so the windows can be seconds long;
 * and, through the whole app, which client a request counts for with and
 * without COFFER_TRUSTED_PROXIES. Client addresses are varied with
 * `X-Forwarded-For` from a trusted loopback proxy: nobody can lock an
 * account by failing from elsewhere (failures per username from anywhere
 * only slow answers, by a bounded delay).
 */
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { clientAddress, proxiedClientAddress } from "../../auth/client_address.ts";
import type { RateLimitSettings } from "../../auth/rate_limit.ts";
import { authRoutes } from "../../routes/auth.ts";
import type { AppEnv } from "../../routes/env.ts";
import { createErrorHandler } from "../../routes/problem.ts";
import { startTestServer } from "../test_server.ts";

const PASSWORD = "correct horse battery staple";
// Long enough that a loaded CI machine finishes four argon2 logins inside one
// window, short enough that waiting one out keeps the suite quick.
const WINDOW_MS = 5000;
const viaLoopbackProxy = proxiedClientAddress(["loopback"]);

/**
 * The auth routes alone, with short windows, served on a free port. With
 * `proxied`, loopback is a trusted proxy, so `X-Forwarded-For` names the client.
 */
async function startAuthServer(limits: Partial<RateLimitSettings>, proxied = false) {
  await using stack = new AsyncDisposableStack();
  const server = stack.use(await startTestServer());
  const addresses: string[] = [];
  const app = new OpenAPIHono<AppEnv>();
  app.onError(createErrorHandler(server.services.log));
  app.route(
    "/",
    authRoutes(server.services, {
      rateLimits: limits,
      clientAddress: (c) => {
        const address = proxied ? viaLoopbackProxy(c) : clientAddress(c);
        addresses.push(address);
        return address;
      },
    }),
  );
  const http = stack.use(
    Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch),
  );
  const owned = stack.move();
  const url = `http://127.0.0.1:${http.addr.port}`;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  return {
    addresses,
    post,
    logs: server.logs,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function statusOf(response: Promise<Response>): Promise<number> {
  const answer = await response;
  await answer.body?.cancel();
  return answer.status;
}

Deno.test("POST /api/auth/token answers 429 with Retry-After after repeated wrong passwords from one address", async () => {
  await using auth = await startAuthServer({
    loginFailuresPerUsernameAndAddress: { limit: 3, windowMs: WINDOW_MS },
  });
  assert.equal(
    await statusOf(auth.post("/api/auth/register", { username: "alice", password: PASSWORD })),
    201,
  );
  const wrong = { username: "alice", password: "wrong password" };
  for (let i = 0; i < 3; i++) {
    assert.equal(await statusOf(auth.post("/api/auth/token", wrong)), 401);
  }

  const limited = await auth.post("/api/auth/token", wrong);
  assert.equal(limited.status, 429);
  assert.match(limited.headers.get("Retry-After") ?? "", /^[1-9]\d*$/);
  assert.ok(Number(limited.headers.get("Retry-After")) <= Math.ceil(WINDOW_MS / 1000));
  assert.equal(limited.headers.get("Content-Type"), "application/problem+json");
  await limited.body?.cancel();

  const right = { username: "alice", password: PASSWORD };
  assert.equal(
    await statusOf(auth.post("/api/auth/token", right)),
    429,
    "refused during the window",
  );
  // Another user is not affected by alice's counter.
  assert.equal(
    await statusOf(auth.post("/api/auth/token", { username: "bob", password: PASSWORD })),
    401,
  );

  await sleep(WINDOW_MS + 100);
  assert.equal(await statusOf(auth.post("/api/auth/token", right)), 200);
  assert.ok(
    auth.addresses.length > 0 && auth.addresses.every((a) => a === "127.0.0.1"),
    auth.addresses.join(),
  );
});

Deno.test("POST /api/auth/token limits failed logins per client address across usernames", async () => {
  await using auth = await startAuthServer({
    loginFailuresPerAddress: { limit: 3, windowMs: WINDOW_MS },
  });
  for (const username of ["u1", "u2", "u3"]) {
    assert.equal(
      await statusOf(auth.post("/api/auth/token", { username, password: PASSWORD })),
      401,
    );
  }
  const limited = await auth.post("/api/auth/token", { username: "u4", password: PASSWORD });
  assert.equal(limited.status, 429);
  assert.ok(limited.headers.has("Retry-After"));
  await limited.body?.cancel();
});

Deno.test("POST /api/auth/token gives a successful login's attempt back", async () => {
  await using auth = await startAuthServer({
    loginFailuresPerUsernameAndAddress: { limit: 2, windowMs: 60_000 },
    loginFailuresPerUsername: { limit: 2, windowMs: 60_000 },
    loginFailuresPerAddress: { limit: 2, windowMs: 60_000 },
  });
  const right = { username: "carol", password: PASSWORD };
  assert.equal(await statusOf(auth.post("/api/auth/register", right)), 201);
  for (let i = 0; i < 5; i++) {
    assert.equal(await statusOf(auth.post("/api/auth/token", right)), 200);
  }
});

Deno.test("POST /api/auth/register answers 429 with Retry-After after too many registrations", async () => {
  await using auth = await startAuthServer({
    registrationsPerAddress: { limit: 2, windowMs: WINDOW_MS },
  });
  assert.equal(
    await statusOf(auth.post("/api/auth/register", { username: "reg1", password: PASSWORD })),
    201,
  );
  assert.equal(
    await statusOf(auth.post("/api/auth/register", { username: "reg1", password: PASSWORD })),
    409,
  );
  const limited = await auth.post("/api/auth/register", { username: "reg2", password: PASSWORD });
  assert.equal(limited.status, 429);
  assert.match(limited.headers.get("Retry-After") ?? "", /^[1-9]\d*$/);
  await limited.body?.cancel();
  await sleep(WINDOW_MS + 100);
  assert.equal(
    await statusOf(auth.post("/api/auth/register", { username: "reg2", password: PASSWORD })),
    201,
  );
});

Deno.test("registrations are counted per X-Forwarded-For client only behind COFFER_TRUSTED_PROXIES", async (t) => {
  const LIMIT = 20; // the default registrations per address and hour
  const register = (url: string, username: string, forwardedFor: string) =>
    fetch(`${url}/api/auth/register`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Forwarded-For": forwardedFor },
      body: JSON.stringify({ username, password: PASSWORD }),
    });
  for (const trusted of [true, false]) {
    await t.step(trusted ? "behind a trusted proxy" : "with no trusted proxy", async () => {
      await using server = await startTestServer({
        config: trusted ? { trustedProxies: ["loopback"] } : {},
      });
      for (let i = 0; i < LIMIT; i++) {
        // A different claimed address each time: only a trusted proxy's claim counts.
        const forwardedFor = trusted ? "203.0.113.1" : `203.0.113.${i + 1}`;
        assert.equal(await statusOf(register(server.url, `user${i}`, forwardedFor)), 201);
      }
      const sameClient = await register(server.url, "one.more", "203.0.113.1");
      assert.equal(sameClient.status, 429);
      await sameClient.body?.cancel();
      const otherClient = statusOf(register(server.url, "another", "198.51.100.2"));
      assert.equal(await otherClient, trusted ? 201 : 429);
    });
  }
});

Deno.test("wrong passwords from one address do not lock the account for another (/api/auth/token and /generate_token)", async (t) => {
  // The whole app with its default limits (10 failures per username and address).
  await using server = await startTestServer({ config: { trustedProxies: ["loopback"] } });
  const from = (address: string) => ({
    "Content-Type": "application/json",
    "X-Forwarded-For": address,
  });
  const post = (path: string, body: unknown, address: string) =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: from(address),
      body: JSON.stringify(body),
    });
  for (const path of ["/api/auth/token", "/generate_token"]) {
    await t.step(path, async () => {
      const username = `victim-${crypto.randomUUID().slice(0, 8)}`;
      assert.equal(
        await statusOf(
          post("/api/auth/register", { username, password: PASSWORD }, "198.51.100.50"),
        ),
        201,
      );
      const attacker = "203.0.113.66";
      const wrong = { username, password: "wrong password" };
      for (let i = 0; i < 10; i++) assert.equal(await statusOf(post(path, wrong, attacker)), 401);
      const right = { username, password: PASSWORD };
      const refused = await post(path, right, attacker);
      assert.equal(refused.status, 429, "the address that failed is refused, even when right");
      assert.match(refused.headers.get("Retry-After") ?? "", /^[1-9]\d*$/);
      await refused.body?.cancel();

      const owner = await post(path, right, "198.51.100.7");
      assert.equal(owner.status, 200, "another address with the right password signs in");
      assert.ok((await owner.json()).access_token);
      assert.equal(await statusOf(post(path, right, attacker)), 429, "still refused afterwards");
    });
  }
});

Deno.test("failures for one username from many addresses only slow its answers, by a bounded delay", async () => {
  const slowdown = { stepMs: 40, maxMs: 120 };
  await using auth = await startAuthServer({
    loginFailuresPerUsername: { limit: 2, windowMs: 60_000 },
    loginSlowdown: slowdown,
  }, true);
  const right = { username: "dora", password: PASSWORD };
  assert.equal(await statusOf(auth.post("/api/auth/register", right)), 201);
  const wrong = { username: "dora", password: "wrong password" };
  for (let i = 1; i <= 8; i++) {
    const from = { "X-Forwarded-For": `203.0.113.${i}` };
    assert.equal(await statusOf(auth.post("/api/auth/token", wrong, from)), 401, `attempt ${i}`);
  }
  // The 9th attempt of the window, from an address that never failed: slowed, not refused.
  const owner = { "X-Forwarded-For": "198.51.100.9" };
  assert.equal(await statusOf(auth.post("/api/auth/token", right, owner)), 200);

  const delays = auth.logs.map((line) => JSON.parse(line))
    .filter((line) => line.event === "auth.login_slowed").map((line) => line.delay_ms);
  // Attempts 3…9 are over the limit of 2: 40, 80, then capped at 120.
  assert.deepEqual(delays, [40, 80, 120, 120, 120, 120, 120]);
  assert.ok(auth.addresses.includes("203.0.113.8") && auth.addresses.includes("198.51.100.9"));
});
