/**
 * Share-link counting across API processes: two `deno task api` processes
 * on one Redis (and the data directory and keys of an in-test server that
 * stores the file) race many downloads of one link at once. A one-time link
 * is served exactly once, whole; a three-time link exactly three times in
 * all; every other answer is 409 (busy) or 410 (used up).
 */
import assert from "node:assert/strict";
import { randomBytes, TEST_REDIS_URL } from "../helpers.ts";
import { signUp, startTestServer, type TestServer } from "../test_server.ts";
import { uploadFile } from "./_files_fixture.ts";
import { CofferProcess, taskCommand } from "./_coffer_process.ts";
import { bytesOf, createShare, eventually, getShare } from "./_shares_fixture.ts";

const KIB = 1024;

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** The environment of an API process that shares everything with `server`. */
function sharedEnv(server: TestServer): Record<string, string> {
  const { config } = server;
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "",
    NO_COLOR: "1",
    RUST_BACKTRACE: "0",
    HOST: "127.0.0.1",
    PORT: "0",
    COFFER_DATA_DIR: config.dataDir,
    REDIS_URL: TEST_REDIS_URL,
    COFFER_REDIS_PREFIX: config.redisPrefix,
    COFFER_MASTER_KEYS: config.masterKeys!.map(({ kid, key }) => `${kid}:${base64(key)}`).join(),
    COFFER_JWT_SECRET: new TextDecoder().decode(config.jwtSecret!),
  };
  for (const name of ["HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Downloads `path` from every URL `times` times at once; returns status and bytes of each. */
function race(urls: string[], path: string, times: number) {
  return Promise.all(
    Array.from({ length: times }, async (_, i) => {
      const response = await fetch(`${urls[i % urls.length]}${path}`);
      return { status: response.status, bytes: await bytesOf(response) };
    }),
  );
}

Deno.test("two API processes racing one link: a one-time link serves once, a 3-time link 3 times", async () => {
  await using server = await startTestServer({
    worker: true,
    // The JWT secret travels as text in the environment: make it printable.
    config: { jwtSecret: new TextEncoder().encode(crypto.randomUUID() + crypto.randomUUID()) },
  });
  const owner = await signUp(server);
  const bytes = randomBytes(2 * 1024 * KIB);
  const file = await uploadFile(server, owner, bytes);
  const once = await createShare(server, owner, file.id, { max_downloads: 1 });
  const thrice = await createShare(server, owner, file.id, { max_downloads: 3 });

  const apis = ["api-1", "api-2"].map((name) =>
    new CofferProcess(name, taskCommand("api"), sharedEnv(server))
  );
  try {
    const urls = await Promise.all(
      apis.map(async (api) => (await api.waitFor("api.listening")).url as string),
    );

    const first = await race(urls, `/s/${once.id}/content`, 16);
    const served = first.filter((answer) => answer.status === 200);
    assert.equal(served.length, 1, `statuses: ${first.map((answer) => answer.status)}`);
    assert.deepEqual(served[0].bytes, bytes);
    for (const answer of first) assert.ok([200, 409, 410].includes(answer.status));
    await eventually(async () => (await getShare(server, owner, once.id)).downloads === 1);
    for (const url of urls) {
      const after = await fetch(`${url}/s/${once.id}/content`);
      assert.equal(after.status, 410);
      await after.body?.cancel();
    }

    // Three downloads in all, however they are spread over bursts and processes.
    let completed = 0;
    for (let burst = 0; burst < 20 && completed <= 3; burst++) {
      const answers = await race(urls, `/s/${thrice.id}/content`, 8);
      for (const answer of answers) {
        assert.ok([200, 409, 410].includes(answer.status), String(answer.status));
        if (answer.status === 200) {
          assert.deepEqual(answer.bytes, bytes);
          completed++;
        }
      }
      if (answers.every((answer) => answer.status === 410)) break;
    }
    assert.equal(completed, 3);
    await eventually(async () => (await getShare(server, owner, thrice.id)).downloads === 3);
    const view = await getShare(server, owner, thrice.id);
    assert.equal(view.bytes_served, 3 * bytes.length);
    for (const api of apis) {
      const answered = api.events("http.request").filter((line) => line.route === "/s/:id/content");
      assert.ok(answered.length >= 8, `${api.name} answered ${answered.length} downloads`);
      assert.deepEqual(api.lines.filter((line) => line.level === "error"), [], api.name);
      for (const line of api.lines) {
        const text = JSON.stringify(line);
        assert.ok(!text.includes(once.id) && !text.includes(thrice.id), `id in log: ${text}`);
      }
    }
  } finally {
    await Promise.all(apis.map((api) => api.stop()));
  }
});
