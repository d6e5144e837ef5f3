/**
 * The owner's share-link API: create (defaults, limits, password), list,
 * read, access log and revoke, with every failure status — another user's
 * file or link (404), a file not yet stored (409), bad expiry, limits and
 * passwords (400), oversized bodies (413), no token (401) — and what logs
 * and metrics say (a short hash, never the link id).
 */
import assert from "node:assert/strict";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer } from "../test_server.ts";
import { uploadFile } from "./_files_fixture.ts";
import { createShare, getShare, postJson, publicGet } from "./_shares_fixture.ts";
import { linkLogId } from "../../storage/link_log_id.ts";

const DAY = 24 * 3600;

Deno.test("POST /api/files/:id/shares makes a 7-day link with the documented fields", async () => {
  await using server = await startTestServer({ worker: true });
  const owner = await signUp(server);
  const file = await uploadFile(server, owner, randomBytes(1000), { name: "a.txt" });
  const before = Date.now();
  const share = await createShare(server, owner, file.id);
  assert.deepEqual(Object.keys(share).sort(), [
    "bytes_served",
    "created_at",
    "downloads",
    "downloads_left",
    "expires_at",
    "file_id",
    "has_password",
    "id",
    "max_downloads",
    "state",
    "url",
  ]);
  assert.equal(share.url, `/s/${share.id}`);
  assert.match(share.id, /^[A-Za-z0-9_-]{22}$/, "128 random bits, base64url");
  assert.equal(share.file_id, file.id);
  assert.equal(share.max_downloads, null);
  assert.equal(share.downloads, 0);
  assert.equal(share.bytes_served, 0);
  assert.equal(share.has_password, false);
  assert.equal(share.state, "active");
  const ttl = (Date.parse(share.expires_at) - before) / 1000;
  assert.ok(Math.abs(ttl - 7 * DAY) < 60, `expires in ${ttl} s`);

  const limited = await createShare(server, owner, file.id, {
    expires_in: 3600,
    max_downloads: 3,
    password: "open sesame 123",
  });
  assert.equal(limited.max_downloads, 3);
  assert.equal(limited.downloads_left, 3);
  assert.equal(limited.has_password, true);
  assert.ok(!("password" in limited) && !("password_hash" in limited));
  assert.deepEqual(await getShare(server, owner, limited.id), limited);

  const created = server.logs.map((line) => JSON.parse(line))
    .filter((line) => line.event === "share.created");
  assert.equal(created.length, 2);
  assert.equal(created[1].share, linkLogId(limited.id));
  for (const line of server.logs) {
    assert.ok(!line.includes(share.id) && !line.includes(limited.id), `id in log: ${line}`);
  }
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^coffer_shares_created_total 2$/m);
});

Deno.test("share creation refuses bad input with 400, big bodies with 413, strangers with 404", async () => {
  await using server = await startTestServer({
    worker: true,
    config: { shareMaxTtlSeconds: 30 * DAY },
  });
  const owner = await signUp(server);
  const stranger = await signUp(server);
  const file = await uploadFile(server, owner, randomBytes(10));
  const path = `/api/files/${file.id}/shares`;
  const bad: unknown[] = [
    { expires_in: 59 },
    { expires_in: 30 * DAY + 1 },
    { expires_in: 1.5 },
    { expires_in: "7d" },
    { max_downloads: 0 },
    { max_downloads: -1 },
    { max_downloads: 1_000_001 },
    { max_downloads: 2.5 },
    { password: "short" },
    { password: "x".repeat(1025) },
    { password: 12345678 },
    { unknown_field: true },
  ];
  for (const body of bad) {
    const { status, body: problem } = await postJson(server, path, body, owner);
    assert.equal(status, 400, `${JSON.stringify(body)} → ${JSON.stringify(problem)}`);
    assert.equal(problem.type, "https://coffer.invalid/problems/validation-failed");
  }
  const longest = await postJson(
    server,
    path,
    { expires_in: 30 * DAY, password: "p".repeat(1024) },
    owner,
  );
  assert.equal(longest.status, 201, JSON.stringify(longest.body));

  const huge = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { ...owner.headers, "Content-Type": "application/json" },
    body: JSON.stringify({ password: "a".repeat(20_000) }),
  });
  assert.equal(huge.status, 413);
  assert.equal((await huge.json()).type, "https://coffer.invalid/problems/body-too-large");

  const theirs = await postJson(server, path, {}, stranger);
  assert.equal(theirs.status, 404);
  assert.equal(theirs.body.type, "https://coffer.invalid/problems/file-not-found");
  const nobody = await postJson(server, path, {});
  assert.equal(nobody.status, 401);
  const unknown = await postJson(server, "/api/files/AAAAAAAAAAAAAAAAAAAAAA/shares", {}, owner);
  assert.equal(unknown.status, 404);
});

Deno.test("a share of a file that is not stored yet is 409", async () => {
  // No worker: the upload stays queued.
  await using server = await startTestServer();
  const owner = await signUp(server);
  const file = await uploadFile(server, owner, randomBytes(10), { wait: false });
  const { status, body } = await postJson(server, `/api/files/${file.id}/shares`, {}, owner);
  assert.equal(status, 409);
  assert.equal(body.type, "https://coffer.invalid/problems/file-not-ready");
});

Deno.test("GET /api/shares lists the owner's links newest first, by page and by file", async () => {
  await using server = await startTestServer({ worker: true });
  const owner = await signUp(server);
  const other = await signUp(server);
  const one = await uploadFile(server, owner, randomBytes(10), { name: "one" });
  const two = await uploadFile(server, owner, randomBytes(10), { name: "two" });
  const made = [];
  for (const file of [one, two, one, two, one]) {
    made.push(await createShare(server, owner, file.id));
  }
  const theirFile = await uploadFile(server, other, randomBytes(10));
  const theirs = await createShare(server, other, theirFile.id);

  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${cursor}` : "";
    const response = await fetch(`${server.url}/api/shares?limit=2${query}`, {
      headers: owner.headers,
    });
    const page = await response.json();
    assert.equal(response.status, 200);
    assert.ok(page.shares.length <= 2);
    seen.push(...page.shares.map((share: { id: string }) => share.id));
    cursor = page.next_cursor;
  } while (cursor);
  assert.deepEqual(seen, made.map((share) => share.id).reverse());

  const ofOne = await (await fetch(`${server.url}/api/shares?file_id=${one.id}`, {
    headers: owner.headers,
  })).json();
  assert.deepEqual(
    ofOne.shares.map((share: { id: string }) => share.id),
    [made[4].id, made[2].id, made[0].id],
  );

  const stranger = await fetch(`${server.url}/api/shares/${theirs.id}`, { headers: owner.headers });
  assert.equal(stranger.status, 404);
  assert.equal((await stranger.json()).type, "https://coffer.invalid/problems/link-not-found");
  const badCursor = await fetch(`${server.url}/api/shares?cursor=nope`, { headers: owner.headers });
  assert.equal(badCursor.status, 400);
  await badCursor.body?.cancel();
  const noToken = await fetch(`${server.url}/api/shares`);
  assert.equal(noToken.status, 401);
  await noToken.body?.cancel();
});

Deno.test("DELETE /api/shares/:id revokes at once: the public routes answer 404", async () => {
  await using server = await startTestServer({ worker: true });
  const owner = await signUp(server);
  const stranger = await signUp(server);
  const file = await uploadFile(server, owner, randomBytes(100));
  const share = await createShare(server, owner, file.id);
  const before = await publicGet(server, `/s/${share.id}/content`);
  assert.equal(before.status, 200);
  await before.body?.cancel();

  const notTheirs = await fetch(`${server.url}/api/shares/${share.id}`, {
    method: "DELETE",
    headers: stranger.headers,
  });
  assert.equal(notTheirs.status, 404);
  await notTheirs.body?.cancel();
  const revoked = await fetch(`${server.url}/api/shares/${share.id}`, {
    method: "DELETE",
    headers: owner.headers,
  });
  assert.equal(revoked.status, 204);
  for (const path of ["", "/info", "/content"]) {
    const response = await publicGet(server, `/s/${share.id}${path}`);
    assert.equal(response.status, 404, path);
    await response.body?.cancel();
  }
  const again = await fetch(`${server.url}/api/shares/${share.id}`, { headers: owner.headers });
  assert.equal(again.status, 404);
  await again.body?.cancel();
});

Deno.test("deleting a file deletes its share links", async () => {
  await using server = await startTestServer({ worker: true });
  const owner = await signUp(server);
  const file = await uploadFile(server, owner, randomBytes(100));
  const shares = [
    await createShare(server, owner, file.id),
    await createShare(server, owner, file.id, { max_downloads: 1 }),
  ];
  const deleted = await fetch(`${server.url}/api/files/${file.id}`, {
    method: "DELETE",
    headers: owner.headers,
  });
  assert.equal(deleted.status, 204);
  for (const share of shares) {
    for (const path of ["/info", "/content"]) {
      const response = await publicGet(server, `/s/${share.id}${path}`);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    const owned = await fetch(`${server.url}/api/shares/${share.id}`, { headers: owner.headers });
    assert.equal(owned.status, 404);
    await owned.body?.cancel();
  }
  const list = await (await fetch(`${server.url}/api/shares`, { headers: owner.headers })).json();
  assert.deepEqual(list.shares, []);
});
