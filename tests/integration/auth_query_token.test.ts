/**
 * `?access_token=` opens the event stream and nothing else: EventSource
 * cannot send headers, but a token in a URL lands in histories, logs and
 * `<script src>` tags, so every other route — JSON, downloads, the key, the
 * compatible endpoints, any method — answers 401 to a query token alone.
 */
import assert from "node:assert/strict";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer } from "../test_server.ts";
import { uploadFile } from "./_files_fixture.ts";

Deno.test("?access_token= is accepted on GET /api/files/:id/events only", async (t) => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  const record = await uploadFile(server, user, randomBytes(1000), { name: "q.txt" });
  const query = `access_token=${encodeURIComponent(user.token)}`;

  await t.step("GET /api/files/:id/events accepts ?access_token=", async () => {
    const response = await fetch(`${server.url}/api/files/${record.id}/events?${query}`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /"status":"stored"/);
  });

  const refused: [string, string][] = [
    ["GET", "/api/me"],
    ["GET", "/api/files"],
    ["GET", `/api/files/${record.id}`],
    ["GET", `/api/files/${record.id}/status`],
    ["GET", `/api/files/${record.id}/content`],
    ["HEAD", `/api/files/${record.id}/content`],
    ["GET", `/api/files/${record.id}/ciphertext`],
    ["GET", `/api/files/${record.id}/key`],
    ["GET", `/api/files/${record.id}/events/`],
    ["GET", `/api/files/${record.id}/events/x`],
    ["GET", `/api/files/${record.id}/content/events`],
    ["GET", "/list_files"],
    ["GET", "/download/q.txt"],
    ["GET", "/download_decrypted/q.txt"],
    ["GET", "/download/events"],
    ["POST", "/api/auth/logout"],
    ["DELETE", `/api/files/${record.id}`],
  ];
  for (const [method, path] of refused) {
    await t.step(`${method} ${path} refuses ?access_token= with 401`, async () => {
      const response = await fetch(`${server.url}${path}?${query}`, { method });
      assert.equal(response.status, 401, `${method} ${path}`);
      assert.equal(response.headers.get("WWW-Authenticate"), 'Bearer realm="coffer"');
      await response.body?.cancel();
    });
  }

  await t.step("the same token in a header still works there", async () => {
    for (const path of ["/api/me", `/api/files/${record.id}/content`, "/list_files"]) {
      const response = await fetch(`${server.url}${path}`, { headers: user.headers });
      assert.equal(response.status, 200, path);
      await response.body?.cancel();
    }
  });
});
