/**
 * `GET /api/files`: newest-first pages with an opaque cursor, own files only,
 * and validation of `limit` and `cursor` — on both object stores.
 */
import assert from "node:assert/strict";
import type { PublicFileRecord } from "../../storage/file_store.ts";
import { newId } from "../../storage/ids.ts";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import { getJson, request, STORES, uploadFile } from "./_files_fixture.ts";

interface Page {
  files: PublicFileRecord[];
  next_cursor: string | null;
}

/** The order the index promises: creation time, then id, both descending. */
function newestFirst(a: PublicFileRecord, b: PublicFileRecord): number {
  const key = (r: PublicFileRecord) =>
    `${String(Date.parse(r.created_at)).padStart(15, "0")}:${r.id}`;
  return key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0;
}

async function listAll(server: TestServer, user: TestUser, limit: number): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    const page: Page = await getJson(server, user, `/api/files?${query}`);
    pages.push(page);
    cursor = page.next_cursor;
    assert.ok(pages.length <= 100, "the cursor never ends");
  } while (cursor);
  return pages;
}

async function assertProblem(response: Response, status: number): Promise<void> {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(response.headers.get("Content-Type"), "application/problem+json");
  assert.equal(body.status, status);
}

for (const store of STORES) {
  Deno.test(`GET /api/files pages through the caller's files (${store.name})`, async (t) => {
    // All 25 uploads at once: more than the default per-user limit of 8.
    await using server = await startTestServer({
      ...store.options,
      config: { maxConcurrentUploads: 25 },
    });
    const [alice, bob] = await Promise.all([signUp(server), signUp(server)]);
    const uploaded = await Promise.all(
      Array.from(
        { length: 25 },
        (_, i) => uploadFile(server, alice, new Uint8Array([i]), { name: `file-${i}.txt` }),
      ),
    );

    await t.step("GET /api/files returns each of 25 files once, newest first", async () => {
      const pages = await listAll(server, alice, 10);
      assert.deepEqual(pages.map((page) => page.files.length), [10, 10, 5]);
      const listed = pages.flatMap((page) => page.files);
      assert.deepEqual(
        listed.map((file) => file.id),
        uploaded.toSorted(newestFirst).map((file) => file.id),
      );
      assert.equal(new Set(listed.map((file) => file.id)).size, 25);
      for (const file of listed) {
        assert.equal("owner" in file || "wrapped_dek" in file || "kid" in file, false);
      }
    });

    await t.step("GET /api/files shows another user none of them", async () => {
      const page: Page = await getJson(server, bob, "/api/files");
      assert.deepEqual(page, { files: [], next_cursor: null });
      const [first] = await listAll(server, alice, 10);
      const query = new URLSearchParams({ cursor: first.next_cursor! });
      assert.deepEqual(await getJson(server, bob, `/api/files?${query}`), page);
    });

    await t.step("GET /api/files answers 400 to a cursor it did not issue", async () => {
      for (const cursor of ["nonsense", btoa("000000000000001:../x"), "%%%", "x".repeat(201)]) {
        const query = new URLSearchParams({ cursor });
        await assertProblem(await request(server, alice, `/api/files?${query}`), 400);
      }
    });

    await t.step("GET /api/files answers 400 to a limit outside 1–200", async () => {
      for (const limit of ["0", "201", "-1", "1.5", "ten"]) {
        await assertProblem(await request(server, alice, `/api/files?limit=${limit}`), 400);
      }
      for (const limit of [1, 200]) {
        const page: Page = await getJson(server, alice, `/api/files?limit=${limit}`);
        assert.equal(page.files.length, Math.min(limit, 25));
      }
    });

    await t.step("GET /api/files without a token answers 401", async () => {
      const response = await fetch(`${server.url}/api/files`);
      await assertProblem(response, 401);
    });
  });
}

Deno.test("GET /api/files keeps page boundaries exact when files share a millisecond", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const created_at = new Date().toISOString();
  const ids = Array.from({ length: 25 }, () => newId());
  for (const id of ids) {
    await server.services.files.create({
      id,
      owner: user.id,
      name: `${id}.txt`,
      size: 0,
      content_type: "text/plain",
      status: "queued",
      created_at,
      kid: "k1",
    });
  }
  const pages = await listAll(server, user, 10);
  assert.deepEqual(
    pages.flatMap((page) => page.files.map((file) => file.id)),
    ids.toSorted().reverse(),
  );
});
