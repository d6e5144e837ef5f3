/**
 * Integrity failures of a stored ciphertext: a flipped byte in chunk 3 of a
 * 1 MiB file aborts the decrypted download before that chunk's plaintext is
 * sent (never a clean end), a flipped header byte is a 502 problem before any
 * byte, and both are logged with the file id — on both object stores.
 */
import assert from "node:assert/strict";
import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, HEADER_SIZE } from "../../crypto/mod.ts";
import { ciphertextKey } from "../../storage/object_keys.ts";
import { randomBytes, streamOf } from "../helpers.ts";
import { signUp, startTestServer, type TestServer } from "../test_server.ts";
import {
  assertSameBytes,
  bodyBytes,
  request,
  storedCiphertext,
  STORES,
  uploadFile,
} from "./_files_fixture.ts";

const SIZE = 3 * 1024 * 1024;
// Past the first 1 MiB read (one 64-chunk engine batch), so a full download
// has served authentic bytes before it reaches the bad chunk.
const TAMPERED_CHUNK = 100;

/** Rewrites a stored ciphertext with one byte flipped. */
async function flipStoredByte(server: TestServer, owner: string, id: string, offset: number) {
  const bytes = await storedCiphertext(server, owner, id);
  bytes[offset] ^= 0x01;
  await server.services.store.put(ciphertextKey(owner, id), streamOf(bytes), {
    contentLength: bytes.length,
  });
}

/** Reads a body until it ends or fails; returns what arrived and the failure. */
async function readUntilFailure(response: Response) {
  const reader = response.body!.getReader();
  const parts: Uint8Array[] = [];
  let failure: unknown;
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      parts.push(next.value);
    }
  } catch (error) {
    failure = error;
  }
  const received = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    received.set(part, offset);
    offset += part.length;
  }
  return { received, failure };
}

function integrityLogs(server: TestServer, fileId: string): Record<string, unknown>[] {
  return server.logs.map((line) => JSON.parse(line))
    .filter((entry) => entry.event === "download.integrity_failure" && entry.file_id === fileId);
}

async function assertIntegrityProblem(response: Response) {
  const body = await response.json();
  assert.equal(response.status, 502, JSON.stringify(body));
  assert.equal(response.headers.get("Content-Type"), "application/problem+json");
  assert.equal(body.title, "Stored file failed its integrity check");
}

for (const store of STORES) {
  Deno.test(`GET /api/files/:id/content refuses tampered ciphertext (${store.name})`, async (t) => {
    await using server = await startTestServer(store.options);
    const user = await signUp(server);
    const bytes = randomBytes(SIZE);
    const [chunkTampered, headerTampered, finalTampered] = await Promise.all([
      uploadFile(server, user, bytes),
      uploadFile(server, user, bytes),
      uploadFile(server, user, bytes),
    ]);
    const tamperedAt = HEADER_SIZE + TAMPERED_CHUNK * ENCRYPTED_CHUNK_SIZE + 100;
    await flipStoredByte(server, user.id, chunkTampered.id, tamperedAt);
    await flipStoredByte(server, user.id, headerTampered.id, 30);
    // 1 MiB is 64 full chunks and an empty final chunk (its 16-byte tag) at the very end.
    await flipStoredByte(server, user.id, finalTampered.id, finalTampered.ciphertext_size! - 1);

    await t.step("GET /api/files/:id/content aborts before a tampered chunk", async () => {
      const response = await request(server, user, `/api/files/${chunkTampered.id}/content`);
      assert.equal(response.status, 200);
      const { received, failure } = await readUntilFailure(response);
      assert.ok(failure, `the body ended cleanly after ${received.length} bytes`);
      assert.ok(received.length <= TAMPERED_CHUNK * CHUNK_SIZE, `${received.length} bytes`);
      assertSameBytes(received, bytes.subarray(0, received.length), "bytes before the failure");
      const logged = integrityLogs(server, chunkTampered.id);
      assert.equal(logged.length, 1, JSON.stringify(logged));
      assert.equal(logged[0].phase, "mid-stream");
    });

    await t.step(
      "GET /api/files/:id/content answers 502 to a range whose batch reaches a tampered chunk",
      async () => {
        // The covering chunks are authenticated as one batch before any is served.
        const start = (TAMPERED_CHUNK - 1) * CHUNK_SIZE;
        const response = await request(server, user, `/api/files/${chunkTampered.id}/content`, {
          headers: { Range: `bytes=${start}-${start + 2 * CHUNK_SIZE}` },
        });
        await assertIntegrityProblem(response);
      },
    );

    await t.step(
      "GET /api/files/:id/content answers 502 to a range in a tampered chunk",
      async () => {
        const start = TAMPERED_CHUNK * CHUNK_SIZE;
        const response = await request(server, user, `/api/files/${chunkTampered.id}/content`, {
          headers: { Range: `bytes=${start}-${start}` },
        });
        await assertIntegrityProblem(response);
      },
    );

    await t.step("GET /api/files/:id/content still serves untouched chunks by range", async () => {
      const response = await request(server, user, `/api/files/${chunkTampered.id}/content`, {
        headers: { Range: "bytes=0-100" },
      });
      assert.equal(response.status, 206);
      assertSameBytes(await bodyBytes(response), bytes.subarray(0, 101), "range bytes");
    });

    await t.step("GET /api/files/:id/content answers 502 to a tampered header", async () => {
      const before = integrityLogs(server, headerTampered.id).length;
      const variants: Record<string, string>[] = [{}, { Range: "bytes=0-0" }, {
        Range: "bytes=-1",
      }];
      for (const headers of variants) {
        const response = await request(server, user, `/api/files/${headerTampered.id}/content`, {
          headers,
        });
        await assertIntegrityProblem(response);
      }
      const logged = integrityLogs(server, headerTampered.id);
      assert.equal(logged.length - before, 3);
      assert.ok(logged.every((entry) => entry.phase === "before-first-byte"));
    });

    await t.step(
      "GET /api/files/:id/content authenticates the end before a suffix range",
      async () => {
        for (const range of ["bytes=-20000", "Bytes=-20000", "bytes= -20000"]) {
          const response = await request(server, user, `/api/files/${finalTampered.id}/content`, {
            headers: { Range: range },
          });
          await assertIntegrityProblem(response);
        }
      },
    );
  });
}

/** A stored file whose length an attacker altered: in the bucket, in the record, or both. */
interface LengthAlteration {
  what: string;
  /** Bytes kept of the stored object (default all). */
  keepBytes?: (ciphertextSize: number) => number;
  /** Record fields rewritten (default none). */
  record?: (size: number, ciphertextSize: number) => { size: number; ciphertext_size: number };
}

// 40,000 bytes: two full chunks and a final chunk of 7,232 bytes.
const ALTERED_SIZE = 2 * CHUNK_SIZE + 7232;
const TWO_CHUNKS = HEADER_SIZE + 2 * ENCRYPTED_CHUNK_SIZE;
const LENGTH_ALTERATIONS: LengthAlteration[] = [
  { what: "the object lost its final chunk", keepBytes: () => TWO_CHUNKS },
  {
    what: "the object and the record were cut to two chunks",
    keepBytes: () => TWO_CHUNKS,
    record: () => ({ size: 2 * CHUNK_SIZE, ciphertext_size: TWO_CHUNKS }),
  },
  {
    what: "the record claims 10 more bytes",
    record: (size, ciphertextSize) => ({ size: size + 10, ciphertext_size: ciphertextSize + 10 }),
  },
  {
    what: "the record's size disagrees with its ciphertext size",
    record: (size, ciphertextSize) => ({ size: size - 1, ciphertext_size: ciphertextSize }),
  },
];

for (const store of STORES) {
  Deno.test(`GET /api/files/:id/content states only an authenticated total in Content-Range (${store.name})`, async (t) => {
    await using server = await startTestServer(store.options);
    const user = await signUp(server);
    const bytes = randomBytes(ALTERED_SIZE);
    const records = await Promise.all(
      LENGTH_ALTERATIONS.map(() => uploadFile(server, user, bytes)),
    );

    for (const [i, alteration] of LENGTH_ALTERATIONS.entries()) {
      const record = records[i];
      const key = ciphertextKey(user.id, record.id);
      const stored = await storedCiphertext(server, user.id, record.id);
      const kept = stored.subarray(0, alteration.keepBytes?.(stored.length) ?? stored.length);
      await server.services.store.put(key, streamOf(kept), { contentLength: kept.length });
      const fields = alteration.record?.(record.size, record.ciphertext_size!);
      if (fields) await server.services.files.update(record.id, fields);

      await t.step(
        `GET /api/files/:id/content answers 502, not a total, when ${alteration.what}`,
        async () => {
          for (const range of ["bytes=0-9", "bytes=16384-16393", "bytes=100-", "bytes=99999999-"]) {
            const response = await request(server, user, `/api/files/${record.id}/content`, {
              headers: { Range: range },
            });
            assert.equal(response.headers.get("Content-Range"), null, range);
            await assertIntegrityProblem(response);
          }
        },
      );
    }

    await t.step(
      "GET /api/files/:id/content still states the total of an intact file",
      async () => {
        const intact = await uploadFile(server, user, bytes);
        const response = await request(server, user, `/api/files/${intact.id}/content`, {
          headers: { Range: "bytes=0-9" },
        });
        assert.equal(response.status, 206);
        assert.equal(response.headers.get("Content-Range"), `bytes 0-9/${ALTERED_SIZE}`);
        assertSameBytes(await bodyBytes(response), bytes.subarray(0, 10), "range bytes");
      },
    );
  });
}
