/**
 * Time limits (SPEC section 15): request headers must arrive within the
 * header deadline (30 s; shortened here), an upload body that goes quiet
 * for `COFFER_BODY_IDLE_SECONDS` is cut with 408 and its staging removed,
 * and a user has at most `COFFER_MAX_CONCURRENT_UPLOADS` uploads in progress
 * across API processes, each slot released however its upload ends.
 *
 * "Two API processes" are two API instances in this test process over one
 * Redis prefix, one staging dir and one set of keys: each has its own Redis
 * connections and upload slots, so every decision is made in Redis.
 */
import assert from "node:assert/strict";
import type { Config } from "../../config.ts";
import { serveWithHeaderDeadline } from "../../header_deadline.ts";
import { randomBytes, tempDir, uniquePrefix } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import { connectRaw, multipartUpload, rawUploadHead } from "./_raw_http.ts";
import { eventually, getJson, sleep, stagedIds } from "./_pipeline.ts";

/** Two API instances sharing one deployment (prefix, staging, keys, secret). */
async function startTwoApis(config: Partial<Config> = {}, headerDeadlineMs?: number) {
  const stack = new AsyncDisposableStack();
  const dir = stack.use(await tempDir());
  const shared: Partial<Config> = {
    redisPrefix: uniquePrefix(),
    dataDir: dir.path,
    masterKeys: [{ kid: "k1", key: randomBytes(32) }],
    jwtSecret: randomBytes(32),
    ...config,
  };
  const a = await startTestServer({ config: shared, headerDeadlineMs });
  const b = await startTestServer({ config: shared, headerDeadlineMs });
  // Disposed in reverse: both servers first, then the shared folder.
  stack.defer(() => a[Symbol.asyncDispose]());
  stack.defer(() => b[Symbol.asyncDispose]());
  return { a, b, [Symbol.asyncDispose]: () => stack.disposeAsync() };
}

async function usedBytes(server: TestServer, user: TestUser): Promise<number> {
  return (await getJson(server, user, "/api/me")).body.used_bytes;
}

Deno.test("the listener closes a connection whose header lines trickle in past the deadline", async () => {
  await using server = await startTestServer({ headerDeadlineMs: 1500 });
  using trickle = await connectRaw(server);
  using silent = await connectRaw(server);
  const started = Date.now();
  await trickle.send("GET /healthz HTTP/1.1\r\n");
  // One header line every 300 ms for up to 10 s: never a complete head in time.
  for (let i = 0; i < 33 && !trickle.closed(); i++) {
    await sleep(300);
    await trickle.send(`X-Slow-${i}: 1\r\n`);
  }
  assert.ok(trickle.closed(), "the trickling connection is still open after 10 s");
  assert.equal((await trickle.response).status, 0, "no answer to an unfinished head");
  const waited = Date.now() - started;
  assert.ok(waited < 9000, `closed only after ${waited} ms`);
  await eventually("the silent connection to close", () => Promise.resolve(silent.closed()), 5000);

  // A head that arrives in time is served; the kept-alive connection is then
  // closed once it has been idle for the deadline, and a second request
  // trickled on it gets no further.
  using kept = await connectRaw(server);
  await kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  await kept.send("GET /healthz HTTP/1.1\r\n");
  for (let i = 0; i < 33 && !kept.closed(); i++) {
    await sleep(300);
    await kept.send(`X-Slow-${i}: 1\r\n`);
  }
  assert.ok(kept.closed(), "the kept-alive connection is still open after 10 s");
  const answer = await kept.response;
  assert.equal(answer.status, 200);
  assert.equal(answer.body.match(/HTTP\/1\.1 /g)?.length ?? 0, 0, "one answer only");
});

Deno.test("serveWithHeaderDeadline() hands the handler the client's address, not the relay's", async () => {
  await using server = serveWithHeaderDeadline(
    { hostname: "127.0.0.1", port: 0 },
    (_request, info) => new Response(`${info.remoteAddr.hostname}:${info.remoteAddr.port}`),
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await conn.write(
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    const text = new TextDecoder().decode(await new Response(conn.readable).bytes());
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    assert.equal(body, `127.0.0.1:${conn.localAddr.port}`);
  } finally {
    try {
      conn.close();
    } catch {
      // closed by reading to the end
    }
  }
});

for (const form of ["raw", "multipart"] as const) {
  Deno.test(`a ${form} upload body idle for COFFER_BODY_IDLE_SECONDS is cut with 408 and its staging removed`, async () => {
    await using server = await startTestServer({ config: { bodyIdleSeconds: 1 } });
    const user = await signUp(server);
    const payload = new Uint8Array(64).fill(7);
    const { head, body } = form === "raw"
      ? { head: rawUploadHead(user, payload.length), body: payload }
      : multipartUpload(user, payload);
    using conn = await connectRaw(server);
    await conn.send(head);
    // The first bytes at once, then one byte every 2.5 s: idle longer than 1 s each time.
    await conn.send(body.subarray(0, form === "raw" ? 8 : body.length - 60));
    await eventually("a staged file", async () => (await stagedIds(server)).length === 1, 5000);
    let offset = form === "raw" ? 8 : body.length - 60;
    const answered = (async () => {
      while (!conn.closed() && offset < body.length) {
        await sleep(2500);
        await conn.send(body.subarray(offset, ++offset));
      }
    })();
    const answer = await conn.response;
    await answered;
    assert.equal(answer.status, 408, answer.head);
    assert.equal(JSON.parse(answer.body).type, "https://coffer.invalid/problems/request-timeout");
    assert.deepEqual(await stagedIds(server), [], "the staged part is removed");
    assert.equal(await usedBytes(server, user), 0);
    assert.equal(await server.services.uploadSlots.openCount(user.id), 0, "the slot is released");
    assert.deepEqual((await getJson(server, user, "/api/files")).body.files, []);
  });
}

Deno.test("a user's uploads beyond COFFER_MAX_CONCURRENT_UPLOADS answer 429 across two APIs; an aborted upload frees its slot", async () => {
  await using apis = await startTwoApis({ maxConcurrentUploads: 8 });
  const { a, b } = apis;
  const user = await signUp(a);
  const other = await signUp(b);
  const size = 1024;
  // Eight uploads that stay open: half through each API, each sent all but its last byte.
  const open = [];
  for (let i = 0; i < 8; i++) {
    const conn = await connectRaw(i % 2 === 0 ? a : b);
    await conn.send(rawUploadHead(user, size));
    await conn.send(new Uint8Array(size - 1));
    open.push(conn);
  }
  try {
    await eventually(
      "eight open uploads",
      async () => await a.services.uploadSlots.openCount(user.id) === 8,
      10_000,
    );
    for (const server of [a, b]) {
      const refused = await fetch(`${server.url}/api/files?name=ninth`, {
        method: "POST",
        headers: user.headers,
        body: new Uint8Array(10),
      });
      const problem = await refused.json();
      assert.equal(refused.status, 429, JSON.stringify(problem));
      assert.equal(problem.type, "https://coffer.invalid/problems/too-many-uploads");
      assert.ok(refused.headers.get("Retry-After"));
    }
    // Another user is not affected.
    const theirs = await fetch(`${b.url}/api/files?name=theirs`, {
      method: "POST",
      headers: other.headers,
      body: new Uint8Array(10),
    });
    await theirs.body?.cancel();
    assert.equal(theirs.status, 202);

    // Hang up one upload mid-body: its slot comes back.
    open.shift()![Symbol.dispose]();
    await eventually(
      "the aborted upload's slot to be released",
      async () => await b.services.uploadSlots.openCount(user.id) === 7,
      10_000,
    );
    const accepted = await fetch(`${b.url}/api/files?name=after-abort`, {
      method: "POST",
      headers: user.headers,
      body: new Uint8Array(10),
    });
    await accepted.body?.cancel();
    assert.equal(accepted.status, 202);
    assert.equal(await usedBytes(a, user), 10, "only the accepted upload counts");
  } finally {
    for (const conn of open) conn[Symbol.dispose]();
  }
  await eventually(
    "every slot to be released",
    async () => await a.services.uploadSlots.openCount(user.id) === 0,
    10_000,
  );
  await eventually("no staged leftovers but the two accepted", async () => {
    return (await stagedIds(a)).length === 2;
  }, 10_000);
});
