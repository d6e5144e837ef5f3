/**
 * The owner binding of a file's data key (SPEC §15, issue 15 item 2): someone
 * who can write to the bucket relabels a victim's key sidecar with their own
 * owner id and copies the ciphertext beside it; after `reindex` they must
 * not get the victim's data key from `GET /api/files/:id/key`. Reindex
 * refuses such a sidecar and says why, `/key` checks the ciphertext's
 * commitment under the record's context before it answers, and both hold
 * for files in the old (version 1) format, which only the commitment
 * protects. Old files keep working and `keys:rotate` upgrades them (but not
 * one whose commitment fails). Also: a wrong wrapped key is the
 * `key-unavailable` problem.
 */
import assert from "node:assert/strict";
import { reindex } from "../../cli/admin/reindex.ts";
import { rotateKeys } from "../../cli/admin/rotate_keys.ts";
import { wrapVersionOf } from "../../storage/data_keys.ts";
import { readKeySidecar } from "../../storage/key_sidecar.ts";
import { ciphertextKey, sidecarKey } from "../../storage/object_keys.ts";
import type { ObjectStore } from "../../storage/object_store.ts";
import { collectBytes } from "../../storage/streams.ts";
import { flushPrefix, randomBytes } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import { uploadFile } from "./_files_fixture.ts";
import { downgradeToV1 } from "./_legacy_format.ts";

const PASSWORD = "correct horse battery staple"; // what signUp() registers with
const REPO = new URL("../..", import.meta.url).pathname;

async function copyObject(store: ObjectStore, from: string, to: string): Promise<void> {
  const bytes = await collectBytes(await store.get(from), 1 << 20);
  await store.put(to, ReadableStream.from([bytes]), { contentLength: bytes.length });
}

/**
 * The attack: move the victim's sidecar to the attacker's prefix with the
 * attacker's owner id, and put a copy of the ciphertext beside it.
 */
async function relabelInBucket(
  store: ObjectStore,
  fileId: string,
  victim: string,
  attacker: string,
): Promise<void> {
  const original = sidecarKey(victim, fileId);
  const sidecar = JSON.parse(
    new TextDecoder().decode(await collectBytes(await store.get(original), 1 << 16)),
  );
  const relabelled = new TextEncoder().encode(JSON.stringify({ ...sidecar, owner_id: attacker }));
  await store.put(sidecarKey(attacker, fileId), ReadableStream.from([relabelled]), {
    contentLength: relabelled.length,
  });
  await store.delete(original);
  await copyObject(store, ciphertextKey(victim, fileId), ciphertextKey(attacker, fileId));
}

async function signIn(server: TestServer, username: string): Promise<string> {
  const response = await fetch(`${server.url}/api/auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).access_token;
}

async function get(server: TestServer, token: string, path: string): Promise<Response> {
  return await fetch(`${server.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
}

async function exportedKey(server: TestServer, user: TestUser, id: string): Promise<string> {
  const response = await get(server, user.token, `/api/files/${id}/key`);
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body.key;
}

/** Runs `deno task reindex` against the test deployment. */
async function runReindexTask(server: TestServer): Promise<{ code: number; stderr: string }> {
  const { config } = server;
  const keys = config.masterKeys!.map((k) => `${k.kid}:${btoa(String.fromCharCode(...k.key))}`);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "reindex"],
    cwd: REPO,
    env: {
      RUST_BACKTRACE: "0",
      REDIS_URL: config.redisUrl!,
      COFFER_REDIS_PREFIX: config.redisPrefix,
      COFFER_DATA_DIR: config.dataDir,
      COFFER_MASTER_KEYS: keys.join(","),
    },
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

for (const format of ["current", "version 1"] as const) {
  Deno.test(`reindex() refuses a sidecar relabelled to another owner (${format} format)`, async (t) => {
    await using server = await startTestServer({ worker: true });
    const [victim, attacker] = [await signUp(server), await signUp(server)];
    const stolen = await uploadFile(server, victim, randomBytes(40_000), { name: "tax.pdf" });
    const kept = await uploadFile(server, victim, randomBytes(100), { name: "kept.txt" });
    if (format === "version 1") {
      await downgradeToV1(server.services, stolen.id);
      await downgradeToV1(server.services, kept.id);
    }
    const victimKey = await exportedKey(server, victim, stolen.id);
    const { store } = server.services;
    await relabelInBucket(store, stolen.id, victim.id, attacker.id);
    await flushPrefix(server.config.redisPrefix); // Redis lost everything: time to reindex

    await t.step("reindex refuses the relabelled sidecar and says why", async () => {
      const report = await reindex(server.services);
      assert.deepEqual(report.failures.map((failure) => failure.key), [
        sidecarKey(attacker.id, stolen.id),
      ]);
      assert.match(report.failures[0].reason, /does not verify/);
      assert.match(report.failures[0].reason, new RegExp(attacker.id));
      assert.equal(report.files.restored, 1, "the untouched file comes back");
    });

    await t.step("the attacker gets no record and no key", async () => {
      const token = await signIn(server, attacker.username);
      for (const path of ["key", "content", ""]) {
        const response = await get(server, token, `/api/files/${stolen.id}${path && "/"}${path}`);
        const text = await response.text();
        assert.equal(response.status, 404, `${path}: ${text}`);
        assert.ok(!text.includes(victimKey));
      }
      const listing = await (await get(server, token, "/api/files")).json();
      assert.deepEqual(listing.files, []);
    });

    await t.step("the victim's untouched file still downloads", async () => {
      const token = await signIn(server, victim.username);
      const response = await get(server, token, `/api/files/${kept.id}/content`);
      assert.equal(response.status, 200);
      assert.equal((await response.arrayBuffer()).byteLength, 100);
    });

    if (format === "current") {
      await t.step("deno task reindex refuses it again and names the reason", async () => {
        const { code, stderr } = await runReindexTask(server);
        assert.equal(code, 1, stderr);
        assert.match(
          stderr,
          new RegExp(
            `coffer: cannot restore ${sidecarKey(attacker.id, stolen.id)}: .*does not verify`,
          ),
        );
      });
    }
  });
}

Deno.test("GET /api/files/:id/key checks the ciphertext's commitment under the record's context", async (t) => {
  await using server = await startTestServer({ worker: true });
  const [victim, attacker] = [await signUp(server), await signUp(server)];
  const { files, store } = server.services;

  await t.step(
    "a version 1 record relabelled to another owner answers 502, not the key",
    async () => {
      const file = await uploadFile(server, victim, randomBytes(20_000));
      const victimKey = await exportedKey(server, victim, file.id);
      await downgradeToV1(server.services, file.id);
      // The old wrap does not bind the owner: only the commitment can tell.
      await copyObject(
        store,
        ciphertextKey(victim.id, file.id),
        ciphertextKey(attacker.id, file.id),
      );
      await files.update(file.id, { owner: attacker.id });
      const response = await get(server, attacker.token, `/api/files/${file.id}/key`);
      const text = await response.text();
      assert.equal(response.status, 502, text);
      assert.equal(JSON.parse(text).type, "https://coffer.invalid/problems/integrity-failure");
      assert.ok(!text.includes(victimKey));
      const logged = server.logs.map((line) => JSON.parse(line))
        .filter((line) => line.event === "key_export.integrity_failure");
      assert.deepEqual(logged.map((line) => line.file_id), [file.id]);
    },
  );

  await t.step("a modified commitment in the stored header answers 502", async () => {
    const file = await uploadFile(server, victim, randomBytes(1000));
    const key = ciphertextKey(victim.id, file.id);
    const bytes = await collectBytes(await store.get(key), 1 << 20);
    bytes[40] ^= 1; // inside the commitment (bytes 24–55)
    await store.put(key, ReadableStream.from([bytes]), { contentLength: bytes.length });
    const response = await get(server, victim.token, `/api/files/${file.id}/key`);
    assert.equal(response.status, 502, await response.text());
  });

  await t.step("an intact file's key is exported as before", async () => {
    const file = await uploadFile(server, victim, randomBytes(1000));
    assert.match(await exportedKey(server, victim, file.id), /^[0-9a-f]{64}$/);
  });
});

Deno.test("a wrapped key that does not unwrap answers key-unavailable, not internal", async () => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  const file = await uploadFile(server, user, randomBytes(100));
  const record = (await server.services.files.get(file.id))!;
  const length = atob(record.wrapped_dek!).length;
  const wrong = btoa(String.fromCharCode(...randomBytes(length)));
  await server.services.files.update(file.id, { wrapped_dek: wrong });
  for (const path of ["content", "key"]) {
    const response = await get(server, user.token, `/api/files/${file.id}/${path}`);
    const problem = await response.json();
    assert.equal(response.status, 500, path);
    assert.equal(problem.type, "https://coffer.invalid/problems/key-unavailable", path);
  }
  const logged = server.logs.map((line) => JSON.parse(line))
    .filter((line) => line.event === "data_key.unwrap_failed");
  assert.equal(logged.length, 2);
  assert.equal(logged[0].file_id, file.id);
  assert.equal(logged[0].kid, record.kid);
});

/** Runs `deno task keys:rotate --json` against the test deployment. */
async function runRotateTask(server: TestServer) {
  const { config } = server;
  const keys = config.masterKeys!.map((k) => `${k.kid}:${btoa(String.fromCharCode(...k.key))}`);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "keys:rotate", "--json"],
    cwd: REPO,
    env: {
      RUST_BACKTRACE: "0",
      REDIS_URL: config.redisUrl!,
      COFFER_REDIS_PREFIX: config.redisPrefix,
      COFFER_DATA_DIR: config.dataDir,
      COFFER_MASTER_KEYS: keys.join(","),
    },
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("version 1 files still download, and deno task keys:rotate moves them to version 2", async (t) => {
  await using server = await startTestServer({ worker: true });
  const [alice, mallory] = [await signUp(server), await signUp(server)];
  const { files, store } = server.services;
  const contents = [randomBytes(33_000), randomBytes(10)];
  const legacy: { id: string; bytes: Uint8Array }[] = [];
  for (const bytes of contents) {
    const file = await uploadFile(server, alice, bytes);
    await downgradeToV1(server.services, file.id);
    legacy.push({ id: file.id, bytes });
  }
  // A version 1 record relabelled to mallory (as an older reindex could have restored it).
  const relabelled = await uploadFile(server, alice, randomBytes(100));
  await downgradeToV1(server.services, relabelled.id);
  await copyObject(
    store,
    ciphertextKey(alice.id, relabelled.id),
    ciphertextKey(mallory.id, relabelled.id),
  );
  await files.update(relabelled.id, { owner: mallory.id });
  const ciphertexts = await Promise.all(
    legacy.map(async (f) =>
      await collectBytes(await store.get(ciphertextKey(alice.id, f.id)), 1 << 20)
    ),
  );

  await t.step("version 1 files download and export their key", async () => {
    for (const file of legacy) {
      assert.equal(wrapVersionOf((await files.get(file.id))!), 1);
      const response = await get(server, alice.token, `/api/files/${file.id}/content`);
      assert.equal(response.status, 200);
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), file.bytes);
      await exportedKey(server, alice, file.id);
    }
  });

  await t.step(
    "keys:rotate re-wraps them as version 2 and refuses the relabelled one",
    async () => {
      const { code, stdout, stderr } = await runRotateTask(server);
      assert.equal(code, 1, stderr);
      const report = JSON.parse(stdout);
      assert.equal(report.files.rewrapped, 2);
      assert.deepEqual(report.failures.map((f: { item: string }) => f.item), [
        `file:${relabelled.id}`,
      ]);
      assert.match(report.failures[0].reason, /does not verify for owner/);
      assert.match(stderr, new RegExp(`cannot rotate file:${relabelled.id}: .*does not verify`));
      for (const file of legacy) {
        const record = (await files.get(file.id))!;
        assert.equal(wrapVersionOf(record), 2);
        const sidecar = await readKeySidecar(store, sidecarKey(alice.id, file.id));
        assert.equal(sidecar.v, 2);
        assert.equal(sidecar.wrapped_dek, record.wrapped_dek);
      }
      assert.equal(wrapVersionOf((await files.get(relabelled.id))!), 1, "not vouched for");
    },
  );

  await t.step("the upgraded files download unchanged, ciphertext untouched", async () => {
    for (const [index, file] of legacy.entries()) {
      const response = await get(server, alice.token, `/api/files/${file.id}/content`);
      assert.equal(response.status, 200);
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), file.bytes);
      const stored = await collectBytes(await store.get(ciphertextKey(alice.id, file.id)), 1 << 20);
      assert.deepEqual(stored, ciphertexts[index]);
    }
  });

  await t.step("a second rotation has nothing left to upgrade", async () => {
    await files.delete((await files.get(relabelled.id))!);
    const report = await rotateKeys(server.services);
    assert.deepEqual(report.failures, []);
    assert.equal(report.files.rewrapped + report.files.sidecarsRewritten, 0);
    assert.equal(report.files.current, 2);
  });
});
