/**
 * A worker SIGKILLed with the local object store (the S3 case is
 * pipeline_crash.test.ts), at the two points between staging and the record
 * update where it can leave something: in the middle of writing the object,
 * and after the object and its key sidecar are in place but before the
 * record says `stored`. Either way a new worker takes the job over and the
 * store ends with exactly one object, one sidecar and no temp file; staging
 * is empty and the owner is charged once.
 *
 * The workers are `main.ts worker` subprocesses. To hold the first one
 * mid-write, its staged file is swapped for a named pipe that this test
 * feeds part of the plaintext; to hold it before the record update, its
 * Redis connection freezes on the command that marks the record `stored`.
 */
import assert from "node:assert/strict";
import { ciphertextKey, sidecarKey } from "../../storage/object_keys.ts";
import { startFreezingProxy } from "../freezing_proxy.ts";
import { collect } from "../helpers.ts";
import {
  signUp,
  startTestServer,
  type TestServer,
  type TestUser,
  waitForFile,
} from "../test_server.ts";
import {
  eventually,
  getJson,
  keysUnder,
  markedPlaintext,
  MIB,
  stagedIds,
  uploadAccepted,
} from "./_pipeline.ts";
import { PROCESS_CONFIG, spawnCoffer } from "./_processes.ts";

const LOCK = { COFFER_JOB_LOCK_MS: "2000" };

function tempFiles(server: TestServer): Promise<Deno.DirEntry[]> {
  return Array.fromAsync(Deno.readDir(`${server.config.dataDir}/objects/.tmp`));
}

/** What must hold once the second worker has stored the file. */
async function assertStoredOnce(
  server: TestServer,
  user: TestUser,
  id: string,
  plaintext: Uint8Array,
) {
  const { store } = server.services;
  assert.deepEqual(await keysUnder(store, `files/${user.id}/`), [ciphertextKey(user.id, id)]);
  assert.deepEqual(await keysUnder(store, `keys/${user.id}/`), [sidecarKey(user.id, id)]);
  assert.deepEqual(await tempFiles(server), [], "no temp file is left");
  assert.deepEqual(await stagedIds(server), []);
  assert.equal((await getJson(server, user, "/api/me")).body.used_bytes, plaintext.length);
  const content = await fetch(`${server.url}/api/files/${id}/content`, { headers: user.headers });
  assert.ok(Buffer.from(await collect(content.body!)).equals(plaintext), "decrypts to the upload");
}

Deno.test("a worker killed while writing a local object is replaced: one object, no temp file left", async () => {
  await using server = await startTestServer({ config: PROCESS_CONFIG });
  const user = await signUp(server);
  const plaintext = markedPlaintext(4 * MIB);
  const record = await uploadAccepted(server, user, "raw", plaintext);
  const staged = `${server.config.dataDir}/staging/${record.id}`;
  await Deno.remove(staged);
  const mkfifo = await new Deno.Command("mkfifo", { args: ["-m", "600", staged] }).output();
  assert.ok(mkfifo.success, "mkfifo");

  {
    await using first = await spawnCoffer("worker", server, LOCK);
    const pipe = await Deno.open(staged, { write: true }); // once the worker opens it to read
    try {
      const half = plaintext.subarray(0, 2 * MIB);
      for (let written = 0; written < half.length;) {
        written += await pipe.write(half.subarray(written));
      }
      await eventually("part of the object to be written", async () => {
        for (const entry of await tempFiles(server)) {
          const info = await Deno.stat(`${server.config.dataDir}/objects/.tmp/${entry.name}`);
          if (info.size > 0) return true;
        }
        return false;
      });
      assert.equal((await first.kill()).signal, "SIGKILL");
    } finally {
      pipe.close();
    }
  }
  assert.equal((await tempFiles(server)).length, 1, "the killed write left its temp file");
  assert.equal(await server.services.store.head(ciphertextKey(user.id, record.id)), undefined);
  assert.equal((await server.services.files.get(record.id))?.status, "encrypting");
  await Deno.remove(staged);
  await Deno.writeFile(staged, plaintext, { mode: 0o600 });

  await using _second = await spawnCoffer("worker", server, LOCK);
  assert.equal((await waitForFile(server, user, record.id, 45_000)).status, "stored");
  await assertStoredOnce(server, user, record.id, plaintext);
});

Deno.test("a worker killed after writing a local object but before the record update is replaced: one object", async () => {
  await using server = await startTestServer({ config: PROCESS_CONFIG });
  const user = await signUp(server);
  const plaintext = markedPlaintext(3 * MIB);
  const record = await uploadAccepted(server, user, "raw", plaintext);
  const redisPort = Number(new URL(server.services.redisUrl).port);
  {
    // The record update is one HSET whose arguments include the bulk string "stored".
    await using freezer = startFreezingProxy(redisPort, "\r\nstored\r\n");
    await using first = await spawnCoffer("worker", server, {
      ...LOCK,
      REDIS_URL: `redis://127.0.0.1:${freezer.port}`,
    });
    await freezer.frozen;
    assert.equal((await first.kill()).signal, "SIGKILL");
  }
  const key = ciphertextKey(user.id, record.id);
  assert.ok(await server.services.store.head(key), "the object was complete");
  assert.ok(await server.services.store.head(sidecarKey(user.id, record.id)));
  assert.equal((await server.services.files.get(record.id))?.status, "encrypting");

  await using _second = await spawnCoffer("worker", server, LOCK);
  assert.equal((await waitForFile(server, user, record.id, 45_000)).status, "stored");
  await assertStoredOnce(server, user, record.id, plaintext);
});
