/**
 * File requests against a real API and worker: the owner API (create,
 * list, get, revoke, bad input), the public info and upload routes — files
 * land in the owner's list with `via_request`, the answer is `{received}`
 * and nothing else, `max_files` and `max_bytes` hold (also for concurrent
 * uploads), the owner's quota holds without being revealed, password
 * requests need a ticket — and the per-address upload limit.
 */
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { proxiedClientAddress } from "../../auth/client_address.ts";
import type { AppEnv } from "../../routes/env.ts";
import { createErrorHandler } from "../../routes/problem.ts";
import { publicRequestRoutes } from "../../routes/public_requests.ts";
import { randomBytes } from "../helpers.ts";
import {
  signUp,
  startTestServer,
  type TestServer,
  type TestUser,
  waitForFile,
} from "../test_server.ts";
import { postJson, publicGet } from "./_shares_fixture.ts";

const PASSWORD = "drop box password";

async function createRequest(server: TestServer, user: TestUser, body: Record<string, unknown>) {
  const { status, body: request } = await postJson(server, "/api/requests", body, user);
  assert.equal(status, 201, JSON.stringify(request));
  return request as { id: string; url: string; [key: string]: unknown };
}

/** Uploads through a request as a stranger: multipart with these files. */
function uploadParts(
  server: TestServer,
  id: string,
  files: { name: string; bytes: Uint8Array }[],
  query = "",
): Promise<Response> {
  const form = new FormData();
  for (const file of files) form.append("file", new Blob([file.bytes as BlobPart]), file.name);
  return fetch(`${server.url}/r/${id}/files${query}`, { method: "POST", body: form });
}

async function ownerFiles(server: TestServer, user: TestUser) {
  const response = await fetch(`${server.url}/api/files`, { headers: user.headers });
  return (await response.json()).files as { id: string; name: string; via_request?: string }[];
}

Deno.test("a file request takes files from anyone into the owner's list, and tells them nothing else", async () => {
  await using server = await startTestServer({ worker: true });
  const owner = await signUp(server);
  const request = await createRequest(server, owner, { title: "Send me the photos", max_files: 3 });
  assert.equal(request.url, `/r/${request.id}`);
  assert.equal(request.files_left, 3);
  assert.equal(request.max_bytes, server.config.maxFileBytes);

  const info = await (await publicGet(server, `/r/${request.id}/info`)).json();
  assert.deepEqual(info, {
    title: "Send me the photos",
    expires_at: request.expires_at,
    files_left: 3,
    max_bytes: server.config.maxFileBytes,
    password_required: false,
  });
  const page = await publicGet(server, `/r/${request.id}`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("X-Robots-Tag"), "noindex, nofollow");
  await page.body?.cancel();

  const one = randomBytes(1000);
  const two = randomBytes(2000);
  const multipart = await uploadParts(server, request.id as string, [
    { name: "one.jpg", bytes: one },
    { name: "two.jpg", bytes: two },
  ]);
  const received = await multipart.json();
  assert.equal(multipart.status, 202, JSON.stringify(received));
  assert.deepEqual(received, {
    received: [{ name: "one.jpg", size: 1000 }, { name: "two.jpg", size: 2000 }],
  });
  assert.equal(multipart.headers.get("Location"), null);
  const raw = await fetch(`${server.url}/r/${request.id}/files?name=three.txt`, {
    method: "POST",
    body: randomBytes(10) as BlobPart,
  });
  assert.deepEqual(await raw.json(), { received: [{ name: "three.txt", size: 10 }] });

  const files = await ownerFiles(server, owner);
  assert.deepEqual(files.map((file) => file.name).sort(), ["one.jpg", "three.txt", "two.jpg"]);
  for (const file of files) {
    assert.equal(file.via_request, request.id);
    assert.equal((await waitForFile(server, owner, file.id)).status, "stored");
  }
  const stored = files.find((file) => file.name === "one.jpg")!;
  const content = await fetch(`${server.url}/api/files/${stored.id}/content`, {
    headers: owner.headers,
  });
  assert.deepEqual(new Uint8Array(await content.arrayBuffer()), one);

  const full = await uploadParts(server, request.id, [{ name: "four", bytes: randomBytes(5) }]);
  assert.equal(full.status, 410);
  await full.body?.cancel();
  assert.equal((await ownerFiles(server, owner)).length, 3);

  // Nothing to list or fetch for an uploader.
  for (const path of ["/files", "/files/" + stored.id, "/content"]) {
    const response = await publicGet(server, `/r/${request.id}${path}`);
    assert.equal(response.status, 404, path);
    await response.body?.cancel();
  }
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^coffer_request_uploads_total 3$/m);
  for (const line of server.logs) assert.ok(!line.includes(request.id), `id in log: ${line}`);
});

Deno.test("concurrent uploads never exceed max_files; failed ones give their room back", async () => {
  await using server = await startTestServer({ worker: true });
  const owner = await signUp(server);
  const request = await createRequest(server, owner, {
    title: "two only",
    max_files: 2,
    max_bytes: 100,
  });
  const tooBig = await uploadParts(server, request.id, [{ name: "big", bytes: randomBytes(101) }]);
  assert.equal(tooBig.status, 413);
  assert.match((await tooBig.json()).detail, /limited to 100 bytes/);
  const answers = await Promise.all(
    Array.from(
      { length: 6 },
      (_, i) =>
        uploadParts(server, request.id, [{ name: `f${i}`, bytes: randomBytes(50) }])
          .then(async (response) => {
            await response.body?.cancel();
            return response.status;
          }),
    ),
  );
  assert.equal(answers.filter((status) => status === 202).length, 2, String(answers));
  assert.equal(answers.filter((status) => status === 410).length, 4, String(answers));
  assert.equal((await ownerFiles(server, owner)).length, 2);
});

Deno.test("a request within the owner's quota says nothing about the owner when it is full", async () => {
  await using server = await startTestServer({ worker: true, config: { quotaBytes: 1000 } });
  const owner = await signUp(server);
  const request = await createRequest(server, owner, { title: "quota" });
  const response = await uploadParts(server, request.id, [{ name: "a", bytes: randomBytes(1001) }]);
  const problem = await response.json();
  assert.equal(response.status, 413);
  assert.equal(problem.type, "https://coffer.invalid/problems/quota-exceeded");
  assert.ok(!JSON.stringify(problem).includes("1000"), JSON.stringify(problem));
  assert.deepEqual(await ownerFiles(server, owner), []);
  const info = await (await publicGet(server, `/r/${request.id}/info`)).json();
  assert.equal(info.files_left, null, "the failed upload took no room");
});

Deno.test("a password request takes files only with a ticket of its own", async () => {
  await using server = await startTestServer({ worker: true });
  const owner = await signUp(server);
  const request = await createRequest(server, owner, { title: "locked", password: PASSWORD });
  const other = await createRequest(server, owner, { title: "other", password: PASSWORD });
  assert.equal(request.has_password, true);
  const refused = await uploadParts(server, request.id, [{ name: "a", bytes: randomBytes(5) }]);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  const wrong = await postJson(server, `/r/${request.id}/unlock`, { password: "nope nope nope" });
  assert.equal(wrong.status, 401);
  const { body } = await postJson(server, `/r/${request.id}/unlock`, { password: PASSWORD });
  const ticket = body.ticket as string;
  const elsewhere = await uploadParts(
    server,
    other.id,
    [{ name: "a", bytes: randomBytes(5) }],
    `?t=${ticket}`,
  );
  assert.equal(elsewhere.status, 401);
  await elsewhere.body?.cancel();
  const accepted = await uploadParts(
    server,
    request.id,
    [{ name: "a", bytes: randomBytes(5) }],
    `?t=${ticket}`,
  );
  assert.equal(accepted.status, 202);
  await accepted.body?.cancel();
  assert.equal((await ownerFiles(server, owner)).length, 1);
});

Deno.test("the owner API lists, reads and revokes requests; bad input is 400", async () => {
  await using server = await startTestServer({ worker: true });
  const owner = await signUp(server);
  const stranger = await signUp(server);
  const made = [
    await createRequest(server, owner, { title: "first" }),
    await createRequest(server, owner, { title: "second", expires_in: 3600, max_files: 1 }),
  ];
  const list = await (await fetch(`${server.url}/api/requests`, { headers: owner.headers })).json();
  assert.deepEqual(list.requests.map((r: { id: string }) => r.id), [made[1].id, made[0].id]);
  const theirs = await fetch(`${server.url}/api/requests/${made[0].id}`, {
    headers: stranger.headers,
  });
  assert.equal(theirs.status, 404);
  await theirs.body?.cancel();

  for (
    const bad of [
      {},
      { title: "" },
      { title: "x".repeat(201) },
      { title: "a\u0000b" },
      { title: "t", expires_in: 10 },
      { title: "t", max_files: 0 },
      { title: "t", max_bytes: server.config.maxFileBytes + 1 },
      { title: "t", password: "short" },
      { title: "t", extra: 1 },
    ]
  ) {
    const { status } = await postJson(server, "/api/requests", bad, owner);
    assert.equal(status, 400, JSON.stringify(bad));
  }
  const revoke = await fetch(`${server.url}/api/requests/${made[0].id}`, {
    method: "DELETE",
    headers: owner.headers,
  });
  assert.equal(revoke.status, 204);
  for (const path of ["", "/info"]) {
    const response = await publicGet(server, `/r/${made[0].id}${path}`);
    assert.equal(response.status, 404, path);
    await response.body?.cancel();
  }
  const upload = await uploadParts(server, made[0].id, [{ name: "a", bytes: randomBytes(5) }]);
  assert.equal(upload.status, 404);
  await upload.body?.cancel();
  const noToken = await postJson(server, "/api/requests", { title: "x" });
  assert.equal(noToken.status, 401);
});

Deno.test("uploads through requests are limited per client address (429)", async () => {
  await using server = await startTestServer({ worker: true });
  const owner = await signUp(server);
  const request = await createRequest(server, owner, { title: "limited" });
  const app = new OpenAPIHono<AppEnv>();
  app.onError(createErrorHandler(server.services.log));
  app.route(
    "/",
    publicRequestRoutes(server.services, {
      limits: { requestUploadsPerAddress: { limit: 2, windowMs: 60_000 } },
      clientAddress: proxiedClientAddress(["loopback"]),
    }),
  );
  await using http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const post = async (address: string) => {
    const response = await fetch(
      `http://127.0.0.1:${http.addr.port}/r/${request.id}/files?name=x`,
      { method: "POST", headers: { "X-Forwarded-For": address }, body: "hello" },
    );
    await response.body?.cancel();
    return response.status;
  };
  assert.deepEqual([await post("203.0.113.1"), await post("203.0.113.1")], [202, 202]);
  assert.equal(await post("203.0.113.1"), 429);
  assert.equal(await post("203.0.113.2"), 202);
});
