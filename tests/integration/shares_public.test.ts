/**
 * The public side of share links against a real API and worker: what
 * counts (a completed full download counts one; ranges count their bytes;
 * HEAD, the page and /info never count; the n+1-th download is 410),
 * expiry (410), password links (unlock tickets bound to their link, wrong
 * tries limited per address and per link), the access log, an abandoned
 * download that counts only its bytes, a revoke that stops a download in
 * flight, and the headers and contents of every public answer (nothing
 * about the owner).
 */
import assert from "node:assert/strict";
import { proxiedClientAddress } from "../../auth/client_address.ts";
import { publicShareRoutes } from "../../routes/public_shares.ts";
import { createErrorHandler } from "../../routes/problem.ts";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../routes/env.ts";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer, type TestServer } from "../test_server.ts";
import { uploadFile } from "./_files_fixture.ts";
import {
  bytesOf,
  createShare,
  eventually,
  getShare,
  postJson,
  publicGet,
} from "./_shares_fixture.ts";

const KIB = 1024;
const PASSWORD = "open sesame 123";

async function ownerWithFile(
  server: TestServer,
  bytes: Uint8Array,
  name = "report.txt",
  type = "text/plain",
) {
  const owner = await signUp(server, `owner-${crypto.randomUUID().slice(0, 8)}`);
  const file = await uploadFile(server, owner, bytes, { name, type });
  return { owner, file };
}

Deno.test("a one-time link: page, info and HEAD do not count; the download does; the next is 410", async () => {
  await using server = await startTestServer({ worker: true });
  const bytes = randomBytes(300 * KIB);
  const { owner, file } = await ownerWithFile(server, bytes);
  const share = await createShare(server, owner, file.id, { max_downloads: 1 });

  for (let i = 0; i < 3; i++) {
    const page = await publicGet(server, `/s/${share.id}`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("Content-Type") ?? "", /^text\/html/);
    await page.body?.cancel();
    const info = await publicGet(server, `/s/${share.id}/info`);
    assert.deepEqual(await info.json(), {
      name: "report.txt",
      size: bytes.length,
      content_type: "text/plain",
      expires_at: share.expires_at,
      password_required: false,
      downloads_left: 1,
    });
    const head = await publicGet(server, `/s/${share.id}/content`, {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("Content-Length"), String(bytes.length));
  }
  assert.equal((await getShare(server, owner, share.id)).downloads, 0);

  const download = await publicGet(server, `/s/${share.id}/content`);
  assert.equal(download.status, 200);
  assert.deepEqual(await bytesOf(download), bytes);
  await eventually(async () => (await getShare(server, owner, share.id)).downloads === 1);
  const after = await getShare(server, owner, share.id);
  assert.equal(after.bytes_served, bytes.length);
  assert.equal(after.state, "used_up");

  const second = await publicGet(server, `/s/${share.id}/content`);
  assert.equal(second.status, 410);
  assert.equal((await second.json()).type, "https://coffer.invalid/problems/link-gone");
  for (const path of ["/info", ""]) {
    const response = await publicGet(server, `/s/${share.id}${path}`);
    assert.equal(response.status, 410, path);
    await response.body?.cancel();
  }
});

Deno.test("max_downloads 3: three downloads, the fourth is 410", async () => {
  await using server = await startTestServer({ worker: true });
  const bytes = randomBytes(5 * KIB);
  const { owner, file } = await ownerWithFile(server, bytes);
  const share = await createShare(server, owner, file.id, { max_downloads: 3 });
  for (let i = 1; i <= 3; i++) {
    const response = await publicGet(server, `/s/${share.id}/content`);
    assert.equal(response.status, 200, `download ${i}`);
    assert.deepEqual(await bytesOf(response), bytes);
    await eventually(async () => (await getShare(server, owner, share.id)).downloads === i);
  }
  const fourth = await publicGet(server, `/s/${share.id}/content`);
  assert.equal(fourth.status, 410);
  await fourth.body?.cancel();
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^coffer_share_downloads_total\{outcome="completed"\} 3$/m);
});

Deno.test("ranges count their bytes: a one-time link serves at most the file's size by ranges", async () => {
  await using server = await startTestServer({ worker: true });
  const bytes = randomBytes(100 * KIB);
  const { owner, file } = await ownerWithFile(server, bytes);
  const share = await createShare(server, owner, file.id, { max_downloads: 1 });
  const content = `/s/${share.id}/content`;

  const first = await publicGet(server, content, { Range: "bytes=0-59999" });
  assert.equal(first.status, 206);
  assert.equal(first.headers.get("Content-Range"), `bytes 0-59999/${bytes.length}`);
  assert.deepEqual(await bytesOf(first), bytes.slice(0, 60000));
  await eventually(async () => (await getShare(server, owner, share.id)).bytes_served === 60000);
  assert.equal((await getShare(server, owner, share.id)).downloads, 0, "a range is not a download");

  // 60000 served of a 102400-byte budget: 42401 more bytes would stretch the limit.
  const tooLong = await publicGet(server, content, { Range: "bytes=0-42400" });
  assert.equal(tooLong.status, 410);
  await tooLong.body?.cancel();
  const rest = await publicGet(server, content, { Range: "bytes=60000-" });
  assert.equal(rest.status, 206);
  assert.deepEqual(await bytesOf(rest), bytes.slice(60000));
  await eventually(async () => (await getShare(server, owner, share.id)).state === "used_up");
  assert.equal((await getShare(server, owner, share.id)).bytes_served, bytes.length);

  for (const range of [undefined, "bytes=0-0", "bytes=-1"]) {
    const response = await publicGet(server, content, range ? { Range: range } : {});
    assert.equal(response.status, 410, range ?? "full");
    await response.body?.cancel();
  }
});

Deno.test("an abandoned download counts its bytes but not a download; the link still works", async () => {
  await using server = await startTestServer({ worker: true });
  const bytes = randomBytes(8 * 1024 * KIB);
  const { owner, file } = await ownerWithFile(server, bytes);
  const share = await createShare(server, owner, file.id, { max_downloads: 1 });
  const abandoned = await publicGet(server, `/s/${share.id}/content`);
  const reader = abandoned.body!.getReader();
  await reader.read();
  await reader.cancel();
  await eventually(async () => (await getShare(server, owner, share.id)).bytes_served > 0);
  const view = await getShare(server, owner, share.id);
  assert.equal(view.downloads, 0);
  assert.ok(view.bytes_served < bytes.length, `${view.bytes_served} bytes counted`);
  assert.equal(view.state, "active");

  const full = await publicGet(server, `/s/${share.id}/content`);
  assert.equal(full.status, 200);
  assert.deepEqual(await bytesOf(full), bytes);
  await eventually(async () => (await getShare(server, owner, share.id)).downloads === 1);

  const log = await (await fetch(`${server.url}/api/shares/${share.id}/accesses`, {
    headers: owner.headers,
  })).json();
  assert.equal(log.accesses.length, 2);
  const [newest, oldest] = log.accesses;
  assert.deepEqual(Object.keys(newest).sort(), ["address", "at", "bytes", "completed"]);
  assert.equal(newest.completed, true);
  assert.equal(newest.bytes, bytes.length);
  assert.equal(newest.address, "127.0.0.1");
  assert.equal(oldest.completed, false);
  assert.ok(oldest.bytes < bytes.length);
  assert.ok(Date.parse(newest.at) >= Date.parse(oldest.at));
});

Deno.test("a revoke stops a download in flight within seconds", async () => {
  await using server = await startTestServer({ worker: true });
  // Larger than what socket buffers hold, so the server is still sending when the link goes.
  const bytes = randomBytes(32 * 1024 * KIB);
  const { owner, file } = await ownerWithFile(server, bytes);
  const share = await createShare(server, owner, file.id);
  const response = await publicGet(server, `/s/${share.id}/content`);
  const reader = response.body!.getReader();
  await reader.read();
  const revoked = await fetch(`${server.url}/api/shares/${share.id}`, {
    method: "DELETE",
    headers: owner.headers,
  });
  assert.equal(revoked.status, 204);
  // Read slowly: the next lease renewal (every 5 s) finds the link gone and cuts the stream.
  const started = Date.now();
  let failed = false;
  let received = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.length;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch {
    failed = true;
  }
  assert.ok(failed, `the download ended cleanly after ${received} bytes`);
  assert.ok(received < bytes.length);
  assert.ok(Date.now() - started < 30_000);
});

Deno.test("expired links answer 410 everywhere, and their owner sees them expired", async () => {
  await using server = await startTestServer({ worker: true });
  const { owner, file } = await ownerWithFile(server, randomBytes(10));
  const share = await createShare(server, owner, file.id, { expires_in: 60 });
  // Time travel: the shortest expiry is a minute, so move this link's expiry into the past.
  const past = Date.now() - 1000;
  await server.services.redis.hset(`share:${share.id}`, {
    expires_ms: String(past),
    expires_at: new Date(past).toISOString(),
  });
  for (const path of ["", "/info", "/content"]) {
    const response = await publicGet(server, `/s/${share.id}${path}`);
    assert.equal(response.status, 410, path);
    await response.body?.cancel();
  }
  const unlock = await postJson(server, `/s/${share.id}/unlock`, { password: PASSWORD });
  assert.equal(unlock.status, 410);
  assert.equal((await getShare(server, owner, share.id)).state, "expired");
});

Deno.test("a password link: nothing without a ticket; a ticket opens only its own link", async () => {
  await using server = await startTestServer({ worker: true });
  const bytes = randomBytes(20 * KIB);
  const { owner, file } = await ownerWithFile(server, bytes, "secret.txt");
  const locked = await createShare(server, owner, file.id, { password: PASSWORD });
  const other = await createShare(server, owner, file.id, { password: "another password" });

  const info = await (await publicGet(server, `/s/${locked.id}/info`)).json();
  assert.deepEqual(info, {
    name: null,
    size: null,
    content_type: null,
    expires_at: locked.expires_at,
    password_required: true,
    downloads_left: null,
  });
  const noTicket = await publicGet(server, `/s/${locked.id}/content`);
  assert.equal(noTicket.status, 401);
  assert.equal((await noTicket.json()).type, "https://coffer.invalid/problems/password-required");

  const wrong = await postJson(server, `/s/${locked.id}/unlock`, { password: "not the password" });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.type, "https://coffer.invalid/problems/wrong-password");
  const unlocked = await postJson(server, `/s/${locked.id}/unlock`, { password: PASSWORD });
  assert.equal(unlocked.status, 200, JSON.stringify(unlocked.body));
  assert.deepEqual(Object.keys(unlocked.body).sort(), ["expires_in", "ticket"]);
  const ticket = unlocked.body.ticket as string;
  assert.ok(ticket.length >= 43);

  const opened = await (await publicGet(server, `/s/${locked.id}/info?t=${ticket}`)).json();
  assert.equal(opened.name, "secret.txt");
  const download = await publicGet(server, `/s/${locked.id}/content?t=${ticket}`);
  assert.equal(download.status, 200);
  assert.deepEqual(await bytesOf(download), bytes);

  // Bound to its link: the same owner's other link, and a bogus ticket, stay shut.
  const elsewhere = await publicGet(server, `/s/${other.id}/content?t=${ticket}`);
  assert.equal(elsewhere.status, 401);
  await elsewhere.body?.cancel();
  const bogus = await publicGet(server, `/s/${locked.id}/content?t=${"A".repeat(43)}`);
  assert.equal(bogus.status, 401);
  await bogus.body?.cancel();
  // An owner token is not a ticket either.
  const withToken = await publicGet(server, `/s/${locked.id}/content`, owner.headers);
  assert.equal(withToken.status, 401);
  await withToken.body?.cancel();

  const open = await createShare(server, owner, file.id);
  const needless = await postJson(server, `/s/${open.id}/unlock`, { password: PASSWORD });
  assert.equal(needless.status, 400);
  const badBody = await postJson(server, `/s/${locked.id}/unlock`, { pass: PASSWORD });
  assert.equal(badBody.status, 400);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^coffer_share_password_failures_total 1$/m);
});

Deno.test("wrong passwords are limited per address and per link (429), a right one is refunded", async () => {
  await using server = await startTestServer({ worker: true });
  const { owner, file } = await ownerWithFile(server, randomBytes(10));
  const share = await createShare(server, owner, file.id, { password: PASSWORD });
  // The public share routes alone, with small limits, behind a trusted loopback proxy.
  const app = new OpenAPIHono<AppEnv>();
  app.onError(createErrorHandler(server.services.log));
  app.route(
    "/",
    publicShareRoutes(server.services, {
      limits: {
        wrongPasswordsPerAddress: { limit: 3, windowMs: 60_000 },
        wrongPasswordsPerLink: { limit: 5, windowMs: 60_000 },
      },
      clientAddress: proxiedClientAddress(["loopback"]),
    }),
  );
  await using http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${http.addr.port}/s/${share.id}/unlock`;
  const unlock = async (password: string, address: string) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Forwarded-For": address },
      body: JSON.stringify({ password }),
    });
    await response.body?.cancel();
    return response;
  };

  assert.equal((await unlock(PASSWORD, "198.51.100.1")).status, 200, "right ones are refunded");
  for (let i = 0; i < 3; i++) {
    assert.equal((await unlock("wrong guess", "198.51.100.1")).status, 401);
  }
  const limited = await unlock(PASSWORD, "198.51.100.1");
  assert.equal(limited.status, 429, "this address is refused, even with the right password");
  assert.ok(Number(limited.headers.get("Retry-After")) >= 1);
  assert.equal((await unlock(PASSWORD, "198.51.100.2")).status, 200, "others are not");

  // Per link: two more wrong tries from new addresses reach its limit of 5.
  assert.equal((await unlock("wrong guess", "198.51.100.3")).status, 401);
  assert.equal((await unlock("wrong guess", "198.51.100.4")).status, 401);
  assert.equal((await unlock("wrong guess", "198.51.100.5")).status, 429);
});

Deno.test("every public answer is noindex, no-referrer, same-origin, and says nothing about the owner", async () => {
  await using server = await startTestServer({ worker: true });
  const { owner, file } = await ownerWithFile(
    server,
    new TextEncoder().encode("<script>alert(1)</script>"),
    "page.html",
    "text/html",
  );
  await uploadFile(server, owner, randomBytes(10), { name: "other-private-file.txt" });
  const share = await createShare(server, owner, file.id);
  const answers: [string, Response][] = [
    ["page", await publicGet(server, `/s/${share.id}`)],
    ["info", await publicGet(server, `/s/${share.id}/info`)],
    ["content", await publicGet(server, `/s/${share.id}/content`)],
    ["head", await publicGet(server, `/s/${share.id}/content`, {}, "HEAD")],
    ["unknown", await publicGet(server, "/s/AAAAAAAAAAAAAAAAAAAAAA/info")],
    ["malformed", await publicGet(server, "/s/..%2F..%2Fetc/info")],
    ["unlock", await fetch(`${server.url}/s/${share.id}/unlock`, { method: "POST" })],
  ];
  for (const [name, response] of answers) {
    const body = await response.text();
    assert.equal(response.headers.get("X-Robots-Tag"), "noindex, nofollow", name);
    assert.equal(response.headers.get("Referrer-Policy"), "no-referrer", name);
    assert.equal(response.headers.get("Cross-Origin-Resource-Policy"), "same-origin", name);
    assert.equal(response.headers.get("X-Content-Type-Options"), "nosniff", name);
    const csp = response.headers.get("Content-Security-Policy") ?? "";
    if (name === "page") assert.match(csp, /script-src 'self'/, name);
    else assert.equal(csp, "sandbox; default-src 'none'", name);
    for (const secret of [owner.username, owner.id, "other-private-file"]) {
      assert.ok(!body.includes(secret), `${name} mentions ${secret}`);
    }
  }
  const content = answers[2][1];
  assert.equal(content.headers.get("Content-Type"), "application/octet-stream", "HTML is passive");
  assert.match(content.headers.get("Content-Disposition") ?? "", /^attachment;/);
  assert.equal(answers[4][1].status, 404);
  assert.equal(answers[5][1].status, 404);
  for (const line of server.logs) assert.ok(!line.includes(share.id), `id in log: ${line}`);
});
