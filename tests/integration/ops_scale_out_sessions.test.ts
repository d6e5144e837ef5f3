/**
 * Sessions on two API processes (each started with the exact `deno task api`
 * command) sharing one Redis: a refresh token sent to both at once is spent
 * by exactly one of them — the other sees a spent token, which revokes the
 * sign-in on both — and a logout or a download ticket made on one process
 * holds on the other.
 */
import assert from "node:assert/strict";
import { CofferProcess, taskCommand } from "./_coffer_process.ts";
import { flushPrefix, randomKeyBase64, tempDir, TEST_REDIS_URL, uniquePrefix } from "../helpers.ts";

const ROUNDS = 8;
const JSON_HEADERS = { "Content-Type": "application/json" };

async function status(response: Promise<Response>): Promise<number> {
  const answer = await response;
  await answer.body?.cancel();
  return answer.status;
}

Deno.test("2 API processes on one Redis: a refresh token is spent exactly once", async () => {
  await using data = await tempDir();
  const prefix = uniquePrefix();
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "",
    NO_COLOR: "1",
    RUST_BACKTRACE: "0",
    HOST: "127.0.0.1",
    PORT: "0",
    COFFER_DATA_DIR: data.path,
    REDIS_URL: TEST_REDIS_URL,
    COFFER_REDIS_PREFIX: prefix,
    COFFER_MASTER_KEYS: `k1:${randomKeyBase64()}`,
    COFFER_JWT_SECRET: randomKeyBase64(),
  };
  for (const name of ["HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const apis = ["api-1", "api-2"].map((name) => new CofferProcess(name, taskCommand("api"), env));
  try {
    const urls = await Promise.all(
      apis.map(async (api) => (await api.waitFor("api.listening")).url as string),
    );
    const credentials = JSON.stringify({
      username: `sessions-${crypto.randomUUID().slice(0, 8)}`,
      password: "correct horse battery staple",
    });
    const post = { method: "POST", headers: JSON_HEADERS };
    assert.equal(
      await status(fetch(`${urls[0]}/api/auth/register`, { ...post, body: credentials })),
      201,
    );
    const signIn = async (url: string) => {
      const response = await fetch(`${url}/api/auth/token`, { ...post, body: credentials });
      assert.equal(response.status, 200);
      return await response.json();
    };
    const refresh = (url: string, token: string) =>
      fetch(`${url}/api/auth/refresh`, {
        ...post,
        body: JSON.stringify({ refresh_token: token }),
      });

    for (let round = 0; round < ROUNDS; round++) {
      const session = await signIn(urls[round % 2]);
      const answers = await Promise.all(urls.map((url) => refresh(url, session.refresh_token)));
      const winners = answers.filter((answer) => answer.status === 200);
      const losers = answers.filter((answer) => answer.status === 401);
      assert.equal(winners.length, 1, `round ${round}: ${answers.map((a) => a.status)}`);
      assert.equal(losers.length, 1);
      const won = await winners[0].json();
      await losers[0].body?.cancel();
      // The loser presented a spent token: the whole sign-in is revoked, on both processes.
      for (const url of urls) {
        assert.equal(await status(refresh(url, won.refresh_token)), 401, `round ${round}`);
        const me = fetch(`${url}/api/me`, {
          headers: { Authorization: `Bearer ${won.access_token}` },
        });
        assert.equal(await status(me), 401, `round ${round}`);
      }
    }

    // A plain rotation on one process continues on the other; logout on one holds on both.
    const session = await signIn(urls[0]);
    const rotated = await refresh(urls[1], session.refresh_token);
    assert.equal(rotated.status, 200);
    const next = await rotated.json();
    const auth = { Authorization: `Bearer ${next.access_token}` };
    assert.equal(await status(fetch(`${urls[0]}/api/me`, { headers: auth })), 200);
    assert.equal(
      await status(fetch(`${urls[0]}/api/auth/logout`, { method: "POST", headers: auth })),
      204,
    );
    assert.equal(await status(fetch(`${urls[1]}/api/me`, { headers: auth })), 401);
    assert.equal(await status(refresh(urls[1], next.refresh_token)), 401);
    for (const api of apis) {
      assert.deepEqual(api.lines.filter((line) => line.level === "error"), [], api.name);
    }
  } finally {
    await Promise.all(apis.map((api) => api.stop()));
    await flushPrefix(prefix);
  }
});
