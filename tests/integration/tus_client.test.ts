/**
 * The official tus-js-client drives `/api/uploads`: chunked uploads, a
 * connection dropped mid-PATCH and the client resuming from the offset the
 * server reports, and the bytes stored equal to the bytes sent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { collect, randomBytes, tempDir } from "../helpers.ts";
import { startTcpProxy } from "../tcp_proxy.ts";
import {
  signUp,
  startTestServer,
  type TestServer,
  type TestUser,
  waitForFile,
} from "../test_server.ts";
import { uploadWithClient } from "./_tus_client.ts";

const MIB = 1024 * 1024;

async function assertStored(server: TestServer, user: TestUser, fileId: string, bytes: Uint8Array) {
  assert.equal((await waitForFile(server, user, fileId, 60_000)).status, "stored");
  const content = await fetch(`${server.url}/api/files/${fileId}/content`, {
    headers: user.headers,
  });
  const stored = await collect(content.body!);
  assert.equal(stored.length, bytes.length);
  assert.ok(stored.every((byte, i) => byte === bytes[i]), "the bytes stored are the bytes sent");
}

Deno.test("tus-js-client uploads 8 MiB in 2 MiB chunks; the file is stored as sent", async () => {
  await using server = await startTestServer({ worker: true });
  await using dir = await tempDir();
  const user = await signUp(server);
  const bytes = randomBytes(8 * MIB);
  const path = join(dir.path, "eight.bin");
  await Deno.writeFile(path, bytes);
  const run = await uploadWithClient({
    endpoint: `${server.url}/api/uploads`,
    token: user.token,
    path,
    chunkSize: 2 * MIB,
  });
  assert.equal(run.patches, 4);
  assert.ok(run.fileId, "the last answer names the file");
  await assertStored(server, user, run.fileId, bytes);
});

Deno.test("tus-js-client resumes from the server's offset after a connection cut mid-PATCH", async () => {
  await using server = await startTestServer({ worker: true });
  await using dir = await tempDir();
  const user = await signUp(server);
  const bytes = randomBytes(6 * MIB);
  const path = join(dir.path, "six.bin");
  await Deno.writeFile(path, bytes);
  // The first connection carries the creation and then PATCHes: drop it 3.5 MiB in.
  await using proxy = startTcpProxy(Number(new URL(server.url).port), {
    cutAfterBytes: 3.5 * MIB,
  });
  const run = await uploadWithClient({
    endpoint: `${proxy.url}/api/uploads`,
    token: user.token,
    path,
    chunkSize: 4 * MIB,
  });
  assert.equal(proxy.cuts, 1, "the connection was dropped once");
  assert.equal(run.resumedAt.length, 1, "the client asked the server where to resume");
  const [offset] = run.resumedAt;
  assert.ok(offset > 0 && offset < 4 * MIB, `resumed inside the cut chunk, at ${offset}`);
  assert.ok(run.fileId);
  await assertStored(server, user, run.fileId, bytes);
});
