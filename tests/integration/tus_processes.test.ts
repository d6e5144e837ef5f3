/**
 * tus across processes: an upload resumes after its API process was killed
 * between chunks (a new process on the same port, same Redis and staging),
 * and two API processes receiving PATCHes of one upload at once never
 * interleave them (the Redis lock): the second waits, then learns the new
 * offset (409), and the staged bytes are exactly the first request's.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { collect, flushPrefix, freePort, randomBytes, tempDir, uniquePrefix } from "../helpers.ts";
import { CofferProcess, processEnv, taskCommand } from "./_coffer_process.ts";
import { uploadWithClient } from "./_tus_client.ts";
import { pausingPatch } from "./_tus.ts";

const MIB = 1024 * 1024;

async function signIn(url: string) {
  const credentials = JSON.stringify({
    username: `tus-${crypto.randomUUID().slice(0, 8)}`,
    password: "correct horse battery staple",
  });
  const post = { method: "POST", headers: { "Content-Type": "application/json" } };
  const registered = await fetch(`${url}/api/auth/register`, { ...post, body: credentials });
  assert.equal(registered.status, 201);
  await registered.body?.cancel();
  const { access_token: token } = await (await fetch(`${url}/api/auth/token`, {
    ...post,
    body: credentials,
  })).json();
  return { token, headers: { Authorization: `Bearer ${token}`, "Tus-Resumable": "1.0.0" } };
}

async function waitStored(url: string, headers: Record<string, string>, id: string) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const { status } = await (await fetch(`${url}/api/files/${id}/status`, { headers })).json();
    if (status === "stored" || status === "failed") return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`file ${id} not stored within 60 s`);
}

Deno.test("tus-js-client resumes an upload after its API process was killed between chunks", async () => {
  await using data = await tempDir();
  const prefix = uniquePrefix();
  const port = freePort();
  const env = processEnv(data.path, prefix, { PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  const bytes = randomBytes(6 * MIB);
  const path = join(data.path, "six.bin");
  await Deno.writeFile(path, bytes);
  let process = new CofferProcess("first", taskCommand("start"), env);
  try {
    await process.waitFor("api.listening");
    const user = await signIn(url);
    const first = await uploadWithClient({
      endpoint: `${url}/api/uploads`,
      token: user.token,
      path,
      chunkSize: 2 * MIB,
      stopAfter: (accepted) => accepted >= 2 * MIB,
    });
    await process.kill();

    process = new CofferProcess("second", taskCommand("start"), env);
    await process.waitFor("api.listening");
    const second = await uploadWithClient({
      endpoint: `${url}/api/uploads`,
      uploadUrl: first.url,
      token: user.token,
      path,
      chunkSize: 2 * MIB,
    });
    assert.deepEqual(second.resumedAt, [2 * MIB], "the new process knows the acknowledged offset");
    assert.equal(second.patches, 2);
    assert.ok(second.fileId);
    assert.equal(await waitStored(url, user.headers, second.fileId), "stored");
    const content = await fetch(`${url}/api/files/${second.fileId}/content`, {
      headers: user.headers,
    });
    assert.deepEqual(await collect(content.body!), bytes);
  } finally {
    await process.stop();
    await flushPrefix(prefix);
  }
});

Deno.test("two API processes never interleave PATCHes of one upload (the Redis lock)", async () => {
  await using data = await tempDir();
  const prefix = uniquePrefix();
  const env = processEnv(data.path, prefix);
  const apis = ["api-1", "api-2"].map((name) => new CofferProcess(name, taskCommand("api"), env));
  try {
    const urls = await Promise.all(
      apis.map(async (api) => (await api.waitFor("api.listening")).url as string),
    );
    const user = await signIn(urls[0]);
    const created = await fetch(`${urls[0]}/api/uploads`, {
      method: "POST",
      headers: { ...user.headers, "Upload-Length": String(2 * MIB) },
    });
    assert.equal(created.status, 201);
    const location = created.headers.get("Location")!;
    const id = location.split("/").pop()!;

    const mine = randomBytes(MIB);
    const theirs = randomBytes(MIB);
    const slow = pausingPatch(`${urls[0]}${location}`, user.headers, 0, mine, 1500);
    await new Promise((resolve) => setTimeout(resolve, 500)); // api-1 now holds the lock
    const rival = await fetch(`${urls[1]}${location}`, {
      method: "PATCH",
      headers: {
        ...user.headers,
        "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream",
      },
      body: theirs as BodyInit,
    });
    const rivalAt = Date.now();
    await rival.body?.cancel();
    const first = await slow;
    assert.equal(first.status, 204);
    assert.equal(first.offset, String(MIB));
    assert.equal(
      rival.status,
      409,
      "the second PATCH waited for the lock, then saw the new offset",
    );
    assert.equal(rival.headers.get("Upload-Offset"), String(MIB));
    assert.ok(rivalAt >= first.at, "the second PATCH was answered after the first");
    const staged = await Deno.readFile(join(data.path, "staging", id));
    assert.deepEqual(staged, mine, "the staged bytes are the first PATCH's alone");

    const rest = await fetch(`${urls[1]}${location}`, {
      method: "PATCH",
      headers: {
        ...user.headers,
        "Upload-Offset": String(MIB),
        "Content-Type": "application/offset+octet-stream",
      },
      body: theirs as BodyInit,
    });
    assert.equal(rest.status, 204, "the other process continues the upload");
    assert.equal(rest.headers.get("Coffer-File-Id"), id);
  } finally {
    await Promise.all(apis.map((api) => api.stop()));
    await flushPrefix(prefix);
  }
});
