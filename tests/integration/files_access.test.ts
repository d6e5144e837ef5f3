/**
 * Ownership and life cycle of a file: another user's file answers exactly
 * like an unknown id (404) on every file route; deleting removes the
 * ciphertext and the key sidecar from the store, releases the quota and
 * leaves an id that answers 404; a file not stored yet answers 409 on every
 * download — on both object stores.
 */
import assert from "node:assert/strict";
import type { FileStatus } from "../../storage/file_store.ts";
import { newId } from "../../storage/ids.ts";
import { ciphertextKey, sidecarKey } from "../../storage/object_keys.ts";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import {
  assertSameBytes,
  bodyBytes,
  getJson,
  request,
  STORES,
  uploadFile,
} from "./_files_fixture.ts";

/** Every route that names a file by id: [method, path suffix]. */
const FILE_ROUTES: [string, string][] = [
  ["GET", ""],
  ["GET", "/status"],
  ["GET", "/events"],
  ["GET", "/content"],
  ["GET", "/ciphertext"],
  ["GET", "/key"],
  ["DELETE", ""],
];

const DOWNLOADS = ["/content", "/ciphertext", "/key"];

interface Answer {
  status: number;
  type: string | null;
  body: string;
}

async function answer(
  server: TestServer,
  user: TestUser,
  method: string,
  path: string,
): Promise<Answer> {
  const response = await request(server, user, path, { method });
  return {
    status: response.status,
    type: response.headers.get("Content-Type"),
    body: await response.text(),
  };
}

async function usedBytes(server: TestServer, user: TestUser): Promise<number> {
  return (await getJson<{ used_bytes: number }>(server, user, "/api/me")).used_bytes;
}

for (const store of STORES) {
  Deno.test(`file routes answer only the owner (${store.name})`, async (t) => {
    await using server = await startTestServer(store.options);
    const [alice, bob] = await Promise.all([signUp(server), signUp(server)]);
    const bytes = randomBytes(5000);
    const file = await uploadFile(server, alice, bytes, { name: "private.txt" });

    await t.step(
      "every file route answers 404 to another user's file, as to an unknown id",
      async () => {
        for (const [method, suffix] of FILE_ROUTES) {
          const theirs = await answer(server, bob, method, `/api/files/${file.id}${suffix}`);
          const unknown = await answer(server, bob, method, `/api/files/${newId()}${suffix}`);
          const malformed = await answer(server, bob, method, `/api/files/nope${suffix}`);
          assert.equal(theirs.status, 404, `${method} ${suffix}: ${theirs.body}`);
          assert.equal(theirs.type, "application/problem+json");
          assert.deepEqual(theirs, unknown, `${method} ${suffix}`);
          assert.deepEqual(theirs, malformed, `${method} ${suffix}`);
        }
        const head = await request(server, bob, `/api/files/${file.id}/content`, {
          method: "HEAD",
        });
        await head.body?.cancel();
        assert.equal(head.status, 404);
      },
    );

    await t.step("the owner's file is untouched by another user's DELETE", async () => {
      const response = await request(server, alice, `/api/files/${file.id}/content`);
      assert.equal(response.status, 200);
      assertSameBytes(await bodyBytes(response), bytes, "plaintext");
    });
  });

  Deno.test(`DELETE /api/files/:id removes the file everywhere (${store.name})`, async (t) => {
    await using server = await startTestServer(store.options);
    const user = await signUp(server);
    const { store: objects } = server.services;
    const kept = await uploadFile(server, user, randomBytes(1000));
    const file = await uploadFile(server, user, randomBytes(70_000));
    const keys = [ciphertextKey(user.id, file.id), sidecarKey(user.id, file.id)];

    await t.step("DELETE /api/files/:id removes the object and the key sidecar", async () => {
      for (const key of keys) assert.ok(await objects.head(key), `${key} exists before`);
      const before = await usedBytes(server, user);
      assert.equal(before, 71_000);
      const response = await request(server, user, `/api/files/${file.id}`, { method: "DELETE" });
      assert.equal(response.status, 204);
      assert.equal((await bodyBytes(response)).length, 0);
      for (const key of keys) assert.equal(await objects.head(key), undefined, `${key} remains`);
      assert.equal(await usedBytes(server, user), before - 70_000);
      assert.ok(await objects.head(ciphertextKey(user.id, kept.id)), "the other file stays");
    });

    await t.step("a deleted file's id answers 404 on every file route", async () => {
      for (const [method, suffix] of FILE_ROUTES) {
        const gone = await answer(server, user, method, `/api/files/${file.id}${suffix}`);
        const unknown = await answer(server, user, method, `/api/files/${newId()}${suffix}`);
        assert.equal(gone.status, 404, `${method} ${suffix}: ${gone.body}`);
        assert.deepEqual(gone, unknown, `${method} ${suffix}`);
      }
      const page = await getJson<{ files: { id: string }[] }>(server, user, "/api/files");
      assert.deepEqual(page.files.map((f) => f.id), [kept.id]);
      assert.equal(await server.services.files.get(file.id), undefined);
    });
  });

  Deno.test(`downloads of a file not stored yet answer 409 (${store.name})`, async () => {
    await using server = await startTestServer(store.options);
    const user = await signUp(server);
    const statuses: FileStatus[] = ["queued", "encrypting", "failed"];
    for (const status of statuses) {
      const id = newId();
      await server.services.files.create({
        id,
        owner: user.id,
        name: `${status}.txt`,
        size: 10,
        content_type: "text/plain",
        status,
        created_at: new Date().toISOString(),
        kid: "k1",
      });
      const record = await getJson<{ status: string }>(server, user, `/api/files/${id}`);
      assert.equal(record.status, status);
      for (const suffix of DOWNLOADS) {
        const response = await request(server, user, `/api/files/${id}${suffix}`);
        const body = await response.json();
        assert.equal(response.status, 409, `${status} ${suffix}: ${JSON.stringify(body)}`);
        assert.equal(response.headers.get("Content-Type"), "application/problem+json");
        assert.equal(body.detail, `The file is ${status}`);
      }
    }
  });
}

Deno.test("DELETE /api/files/:id cancels the job of a queued file and releases its quota", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const file = await uploadFile(server, user, randomBytes(3000), { wait: false });
  const { queue, staging } = server.services;
  assert.ok(await queue.getJob(file.id), "the job is queued");
  assert.deepEqual((await staging.list()).map((staged) => staged.id), [file.id]);
  assert.equal(await usedBytes(server, user), 3000);
  const response = await request(server, user, `/api/files/${file.id}`, { method: "DELETE" });
  assert.equal(response.status, 204);
  await response.body?.cancel();
  assert.equal(await queue.getJob(file.id), undefined);
  assert.deepEqual(await staging.list(), []);
  assert.equal(await usedBytes(server, user), 0);
  assert.equal((await answer(server, user, "GET", `/api/files/${file.id}`)).status, 404);
});
