/**
 * `Range` on downloads of a 1 MiB file: single ranges in the `a-b`, `a-` and
 * `-n` forms answer 206 with the exact slice and `Content-Range`, past the
 * end answers 416 with `Content-Range: bytes *\/size`, and `/ciphertext`
 * passes ranges through to the stored object — on both object stores.
 */
import assert from "node:assert/strict";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer } from "../test_server.ts";
import {
  assertSameBytes,
  bodyBytes,
  request,
  storedCiphertext,
  STORES,
  uploadFile,
} from "./_files_fixture.ts";

const SIZE = 1024 * 1024;

/** Range header → the inclusive slice it selects of a `SIZE`-byte file. */
const PLAINTEXT_RANGES: [string, number, number][] = [
  ["bytes=0-0", 0, 0],
  ["bytes=16383-16384", 16383, 16384],
  ["bytes=-1", SIZE - 1, SIZE - 1],
  ["bytes=100-", 100, SIZE - 1],
  ["bytes=16384-32767", 16384, 32767],
  ["bytes=10000-300000", 10000, 300000],
  ["bytes=1048575-", SIZE - 1, SIZE - 1],
  ["bytes=1000-99999999", 1000, SIZE - 1],
  ["bytes=-20000", SIZE - 20000, SIZE - 1],
  ["bytes=-2000000", 0, SIZE - 1],
];

async function assertProblem(response: Response, status: number, contentRange: string) {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(response.headers.get("Content-Type"), "application/problem+json");
  assert.equal(response.headers.get("Content-Range"), contentRange);
}

for (const store of STORES) {
  Deno.test(`GET /api/files/:id/content serves byte ranges (${store.name})`, async (t) => {
    await using server = await startTestServer(store.options);
    const user = await signUp(server);
    const bytes = randomBytes(SIZE);
    const record = await uploadFile(server, user, bytes, { type: "text/plain" });
    const content = `/api/files/${record.id}/content`;

    for (const [range, start, end] of PLAINTEXT_RANGES) {
      await t.step(`GET /api/files/:id/content answers 206 to ${range}`, async () => {
        const response = await request(server, user, content, { headers: { Range: range } });
        assert.equal(response.status, 206);
        assert.equal(response.headers.get("Content-Range"), `bytes ${start}-${end}/${SIZE}`);
        assert.equal(response.headers.get("Content-Length"), String(end - start + 1));
        assert.equal(response.headers.get("Content-Type"), "text/plain");
        assertSameBytes(await bodyBytes(response), bytes.subarray(start, end + 1), range);
      });
    }

    await t.step("GET /api/files/:id/content answers 416 past the end", async () => {
      for (const range of ["bytes=5000000-", "bytes=1048576-", "bytes=1048576-1048577"]) {
        const response = await request(server, user, content, { headers: { Range: range } });
        await assertProblem(response, 416, `bytes */${SIZE}`);
      }
      const empty = await request(server, user, content, { headers: { Range: "bytes=-0" } });
      await assertProblem(empty, 416, `bytes */${SIZE}`);
    });

    await t.step("GET /api/files/:id/content serves it all for a range it ignores", async () => {
      for (const range of ["bytes=0-1,5-6", "items=0-1", "bytes=9-2", "bytes=-"]) {
        const response = await request(server, user, content, { headers: { Range: range } });
        assert.equal(response.status, 200, range);
        assert.equal(response.headers.get("Content-Range"), null);
        assertSameBytes(await bodyBytes(response), bytes, range);
      }
    });

    await t.step("GET /api/files/:id/ciphertext passes ranges through", async () => {
      const stored = await storedCiphertext(server, user.id, record.id);
      const size = stored.length;
      const ranges: [string, number, number][] = [
        ["bytes=0-55", 0, 55],
        ["bytes=56-16455", 56, 16455],
        ["bytes=-16", size - 16, size - 1],
        ["bytes=1000-", 1000, size - 1],
      ];
      for (const [range, start, end] of ranges) {
        const response = await request(server, user, `/api/files/${record.id}/ciphertext`, {
          headers: { Range: range },
        });
        assert.equal(response.status, 206, range);
        assert.equal(response.headers.get("Content-Range"), `bytes ${start}-${end}/${size}`);
        assert.equal(response.headers.get("Content-Length"), String(end - start + 1));
        assertSameBytes(await bodyBytes(response), stored.subarray(start, end + 1), range);
      }
      const past = await request(server, user, `/api/files/${record.id}/ciphertext`, {
        headers: { Range: "bytes=5000000-" },
      });
      await assertProblem(past, 416, `bytes */${size}`);
    });

    await t.step(
      "GET /api/files/:id/content answers 416 to any range of an empty file",
      async () => {
        const empty = await uploadFile(server, user, new Uint8Array(0));
        const response = await request(server, user, `/api/files/${empty.id}/content`, {
          headers: { Range: "bytes=0-0" },
        });
        await assertProblem(response, 416, "bytes */0");
      },
    );
  });
}
