/**
 * The admin tasks against a real deployment (Redis + object store):
 * `keys:rotate` re-wraps every key without touching ciphertext and leaves
 * files readable with only the new key; `reindex` rebuilds users and files
 * after every Redis key of the deployment is gone; `user:add` creates an
 * account that signs in. The exported functions are called directly, and
 * each task also runs once as `deno task …` to cover its entry point and
 * permissions.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { addUser } from "../../cli/admin/user_add.ts";
import { reindex } from "../../cli/admin/reindex.ts";
import { rotateKeys } from "../../cli/admin/rotate_keys.ts";
import { CliError, UsageError } from "../../cli/command.ts";
import type { Config, MasterKeySpec } from "../../config.ts";
import { sealedKeyId } from "../../crypto/mod.ts";
import { silentLogger } from "../../log.ts";
import { openServices } from "../../services.ts";
import type { PublicFileRecord } from "../../storage/file_store.ts";
import { readKeySidecar } from "../../storage/key_sidecar.ts";
import { ciphertextKey, sidecarKey, userBackupKey } from "../../storage/object_keys.ts";
import type { ObjectStore } from "../../storage/object_store.ts";
import { collectBytes } from "../../storage/streams.ts";
import { flushPrefix, freePort, randomBytes } from "../helpers.ts";
import {
  signUp,
  startTestServer,
  type TestServer,
  type TestUser,
  waitForFile,
} from "../test_server.ts";

const PASSWORD = "correct horse battery staple"; // what signUp() registers with
const REPO = new URL("../..", import.meta.url).pathname;

const masterKey = (kid: string): MasterKeySpec => ({ kid, key: randomBytes(32) });

async function upload(server: TestServer, user: TestUser, name: string, bytes: Uint8Array) {
  const response = await fetch(`${server.url}/api/files?name=${encodeURIComponent(name)}`, {
    method: "POST",
    headers: user.headers,
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  const record = await response.json();
  assert.equal(response.status, 202, JSON.stringify(record));
  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  return { id: record.id as string, owner: user.id, name, bytes };
}

async function download(url: string, token: string, id: string): Promise<Uint8Array> {
  const response = await fetch(`${url}/api/files/${id}/content`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = new Uint8Array(await response.arrayBuffer());
  assert.equal(response.status, 200, new TextDecoder().decode(body));
  return body;
}

async function signIn(url: string, username: string): Promise<Response> {
  return await fetch(`${url}/api/auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
}

async function digest(store: ObjectStore, key: string): Promise<string> {
  return createHash("sha256").update(await collectBytes(await store.get(key), 1 << 20)).digest(
    "hex",
  );
}

/** The environment under which `deno task …` sees the test deployment. */
function deploymentEnv(config: Config): Record<string, string> {
  const keys = config.masterKeys!.map((k) => `${k.kid}:${btoa(String.fromCharCode(...k.key))}`);
  return {
    REDIS_URL: config.redisUrl!,
    COFFER_REDIS_PREFIX: config.redisPrefix,
    COFFER_DATA_DIR: config.dataDir,
    COFFER_MASTER_KEYS: keys.join(","),
    ...(config.s3
      ? {
        S3_ENDPOINT: config.s3.endpoint!,
        S3_BUCKET: config.s3.bucket,
        AWS_ACCESS_KEY_ID: "test",
        AWS_SECRET_ACCESS_KEY: "test",
      }
      : {}),
  };
}

/** Runs `deno task NAME ARGS…` in the repository; the child never outlives the call. */
async function runTask(name: string, args: string[], env: Record<string, string>, stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", name, ...args],
    cwd: REPO,
    env,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(stdin));
      await writer.close();
    }
    const output = await child.output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
  } catch (error) {
    try {
      child.kill();
    } catch {
      // Already exited.
    }
    await child.status;
    throw error;
  }
}

Deno.test("rotateKeys() re-wraps every key under the new master key", async (t) => {
  const oldKey = masterKey("old");
  const newKey = masterKey("new");
  await using server = await startTestServer({ worker: true, config: { masterKeys: [oldKey] } });
  const [alice, bob] = [await signUp(server), await signUp(server)];
  const files = [
    await upload(server, alice, "a.txt", new TextEncoder().encode("alpha")),
    await upload(server, alice, "b.bin", randomBytes(40_000)),
    await upload(server, bob, "c.bin", randomBytes(17_000)),
  ];
  const store = server.services.store;
  const ciphertexts = await Promise.all(
    files.map((f) => digest(store, ciphertextKey(f.owner, f.id))),
  );
  await using rotating = await openServices(
    { ...server.config, masterKeys: [newKey, oldKey] },
    silentLogger,
  );

  await t.step("the first run re-wraps every file and re-seals every user backup", async () => {
    const report = await rotateKeys(rotating);
    assert.deepEqual(report.failures, []);
    assert.equal(report.activeKid, "new");
    assert.deepEqual(
      { ...report.files },
      { total: 3, rewrapped: 3, sidecarsRewritten: 0, current: 0, shredded: 0, inFlight: 0 },
    );
    assert.deepEqual({ ...report.users }, { total: 2, resealed: 2, written: 0, current: 0 });
    for (const file of files) {
      assert.equal((await rotating.files.get(file.id))?.kid, "new");
      const sidecar = await readKeySidecar(store, sidecarKey(file.owner, file.id));
      assert.equal(sidecar.v, 2);
      const metaKid = sealedKeyId(
        Uint8Array.from(atob(sidecar.sealed_meta), (c) => c.charCodeAt(0)),
      );
      assert.deepEqual([sidecar.kid, metaKid], ["new", "new"]);
    }
    for (const user of [alice, bob]) {
      const backup = await collectBytes(await store.get(userBackupKey(user.id)), 1 << 20);
      assert.equal(sealedKeyId(backup), "new");
    }
  });

  await t.step("ciphertext is never touched", async () => {
    const after = await Promise.all(files.map((f) => digest(store, ciphertextKey(f.owner, f.id))));
    assert.deepEqual(after, ciphertexts);
  });

  await t.step("a second run changes nothing", async () => {
    const sidecars = await Promise.all(files.map((f) => digest(store, sidecarKey(f.owner, f.id))));
    const report = await rotateKeys(rotating);
    assert.equal(report.files.rewrapped + report.files.sidecarsRewritten, 0);
    assert.equal(report.files.current, 3);
    assert.equal(report.users.resealed + report.users.written, 0);
    const again = await Promise.all(files.map((f) => digest(store, sidecarKey(f.owner, f.id))));
    assert.deepEqual(again, sidecars);
  });

  await t.step("a lost sidecar is rewritten from the record", async () => {
    await store.delete(sidecarKey(files[0].owner, files[0].id));
    const report = await rotateKeys(rotating);
    assert.deepEqual([report.files.sidecarsRewritten, report.files.current], [1, 2]);
    const sidecar = await readKeySidecar(store, sidecarKey(files[0].owner, files[0].id));
    assert.equal(sidecar.wrapped_dek, (await rotating.files.get(files[0].id))?.wrapped_dek);
  });

  await t.step("deno task keys:rotate runs the same rotation (nothing left to do)", async () => {
    const result = await runTask("keys:rotate", ["--json"], deploymentEnv(rotating.config));
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.files.current, 3);
    assert.equal(report.files.rewrapped, 0);
  });

  await t.step("the files download from a server that has only the new key", async () => {
    await using newOnly = await startTestServer({
      config: {
        dataDir: server.config.dataDir,
        redisPrefix: server.config.redisPrefix,
        jwtSecret: server.config.jwtSecret,
        masterKeys: [newKey],
      },
    });
    for (const file of files) {
      const token = file.owner === alice.id ? alice.token : bob.token;
      assert.deepEqual(await download(newOnly.url, token, file.id), file.bytes);
    }
  });
});

Deno.test("reindex() rebuilds users and files after Redis lost everything", async (t) => {
  await using server = await startTestServer({ worker: true, s3: true });
  const [alice, bob, carol] = [await signUp(server), await signUp(server), await signUp(server)];
  const files = [
    await upload(server, alice, "notes.txt", new TextEncoder().encode("hello")),
    await upload(server, alice, "photo ☀.bin", randomBytes(33_000)),
    await upload(server, bob, "empty", new Uint8Array(0)),
  ];
  const deleted = await upload(server, bob, "deleted.bin", randomBytes(100));
  const gone = await fetch(`${server.url}/api/files/${deleted.id}`, {
    method: "DELETE",
    headers: bob.headers,
  });
  assert.equal(gone.status, 204);
  const listing = async (url: string, token: string) => {
    const response = await fetch(`${url}/api/files`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    return ((await response.json()).files as PublicFileRecord[]);
  };
  const me = async (token: string) =>
    await (await fetch(`${server.url}/api/me`, { headers: { Authorization: `Bearer ${token}` } }))
      .json();
  const before = {
    alice: await listing(server.url, alice.token),
    bob: await listing(server.url, bob.token),
    aliceUsed: (await me(alice.token)).used_bytes,
  };

  await flushPrefix(server.config.redisPrefix);

  await t.step("after the loss nobody can sign in", async () => {
    const response = await signIn(server.url, alice.username);
    await response.body?.cancel();
    assert.equal(response.status, 401);
  });

  await t.step("reindex restores every user and every stored file", async () => {
    const report = await reindex(server.services);
    assert.deepEqual(report.failures, []);
    assert.deepEqual({ ...report.users }, {
      found: 3,
      restored: 3,
      updated: 0,
      kept: 0,
      conflict: 0,
    });
    assert.deepEqual({ ...report.files }, {
      found: 3,
      restored: 3,
      kept: 0,
      missingCiphertext: 0,
      withoutOwner: 0,
    });
    assert.equal(report.usageRecomputed, 3);
  });

  await t.step("users sign in with their passwords and see their files again", async () => {
    for (
      const [user, expected] of [[alice, before.alice], [bob, before.bob], [carol, []]] as const
    ) {
      const response = await signIn(server.url, user.username);
      assert.equal(response.status, 200);
      const { access_token: token } = await response.json();
      assert.deepEqual(await listing(server.url, token), expected);
      for (const file of files.filter((f) => f.owner === user.id)) {
        assert.deepEqual(await download(server.url, token, file.id), file.bytes);
      }
      if (user === alice) assert.equal((await me(token)).used_bytes, before.aliceUsed);
    }
  });

  await t.step("a second run restores nothing and overwrites nothing", async () => {
    const report = await reindex(server.services);
    assert.equal(report.users.restored + report.users.updated, 0);
    assert.equal(report.users.kept, 3);
    assert.deepEqual([report.files.restored, report.files.kept], [0, 3]);
  });

  await t.step("a garbage or oversized sidecar is a reported failure, not a crash", async () => {
    const { store } = server.services;
    const junk: [string, Uint8Array][] = [
      [sidecarKey(alice.id, "swollen"), randomBytes(1024 * 1024)],
      [sidecarKey(alice.id, "garbage"), new TextEncoder().encode("null")],
    ];
    for (const [key, bytes] of junk) {
      await store.put(key, ReadableStream.from([bytes]), { contentLength: bytes.length });
    }
    try {
      const report = await reindex(server.services);
      assert.deepEqual(report.failures.map((failure) => failure.key).sort(), [
        sidecarKey(alice.id, "garbage"),
        sidecarKey(alice.id, "swollen"),
      ]);
      const swollen = report.failures.find((f) => f.key === sidecarKey(alice.id, "swollen"));
      assert.match(swollen!.reason, /larger than 65536 bytes/);
      const garbage = report.failures.find((f) => f.key === sidecarKey(alice.id, "garbage"));
      assert.match(garbage!.reason, /unknown layout/);
      assert.deepEqual([report.files.found, report.files.kept], [5, 3]);
    } finally {
      for (const [key] of junk) await store.delete(key);
    }
  });

  await t.step("deno task reindex reports the same (nothing to restore)", async () => {
    const result = await runTask("reindex", ["--json"], deploymentEnv(server.config));
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.deepEqual([report.files.found, report.files.kept], [3, 3]);
  });
});

Deno.test("addUser() and deno task user:add create accounts that sign in", async (t) => {
  await using server = await startTestServer();

  await t.step("addUser() folds case and the user signs in", async () => {
    const user = await addUser(server.services, "Admin.One", PASSWORD);
    assert.equal(user.username, "admin.one");
    assert.equal(user.quota_bytes, server.config.quotaBytes);
    const response = await signIn(server.url, "admin.one");
    await response.body?.cancel();
    assert.equal(response.status, 200);
  });

  await t.step("addUser() refuses a taken name, a bad name and a short password", async () => {
    await assert.rejects(addUser(server.services, "admin.one", PASSWORD), CliError);
    await assert.rejects(addUser(server.services, "a/b", PASSWORD), UsageError);
    await assert.rejects(addUser(server.services, "shorty", "short"), /at least 8 characters/);
  });

  await t.step("deno task user:add NAME --password-stdin", async () => {
    const env = deploymentEnv(server.config);
    const result = await runTask("user:add", ["task.user", "--password-stdin"], env, PASSWORD);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Added user task\.user \(id [\w-]+\)\n$/);
    const response = await signIn(server.url, "task.user");
    await response.body?.cancel();
    assert.equal(response.status, 200);
    const usage = await runTask("user:add", ["x"], env);
    assert.equal(usage.code, 2);
  });
});

Deno.test("admin tasks stop with one line when the object store cannot be opened", async () => {
  await using server = await startTestServer();
  const closedPort = freePort();
  const env = {
    ...deploymentEnv(server.config),
    S3_ENDPOINT: `http://127.0.0.1:${closedPort}`,
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
  };
  for (const task of ["reindex", "keys:rotate"]) {
    const result = await runTask(task, [], env);
    assert.equal(result.code, 1, `${task}: ${result.stderr}`);
    assert.match(
      result.stderr,
      new RegExp(
        `^coffer: Cannot open S3 bucket coffer at http://127\\.0\\.0\\.1:${closedPort}: .*\n$`,
      ),
    );
  }
});
