/**
 * UserStore against real Redis and the object store: atomic usernames,
 * quota reservations, the sealed backup and restoring from it.
 */
import assert from "node:assert/strict";
import { DecryptionError, KeyRing } from "../../crypto/mod.ts";
import { userBackupKey } from "../../storage/object_keys.ts";
import { type UserRecord, UserStore } from "../../storage/user_store.ts";
import { randomBytes } from "../helpers.ts";
import { startTestServer } from "../test_server.ts";

const HASH =
  "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

Deno.test("UserStore.create() lets exactly one of many concurrent creations claim a username", async () => {
  await using server = await startTestServer();
  const users = server.services.users;
  const results = await Promise.allSettled(
    Array.from(
      { length: 8 },
      () => users.create({ username: "dup", password_hash: HASH, quota_bytes: 10 }),
    ),
  );
  const created = results.filter((r) => r.status === "fulfilled");
  assert.equal(created.length, 1);
  for (const result of results) {
    if (result.status === "rejected") assert.equal(result.reason.code, "USERNAME_TAKEN");
  }
  assert.equal((await collectAll(users.list())).length, 1);
  await assert.rejects(
    users.create({ username: "Not-Lower", password_hash: HASH, quota_bytes: 10 }),
    RangeError,
  );
});

Deno.test("UserStore.reserveBytes() never lets concurrent reservations exceed the quota", async () => {
  await using server = await startTestServer();
  const users = server.services.users;
  const user = await users.create({ username: "quota", password_hash: HASH, quota_bytes: 100 });
  const granted = await Promise.all(
    Array.from({ length: 12 }, () => users.reserveBytes(user.id, 20)),
  );
  assert.equal(granted.filter(Boolean).length, 5);
  assert.equal((await users.findById(user.id))?.used_bytes, 100);
  assert.equal(await users.reserveBytes(user.id, 0), true);
  assert.equal(await users.reserveBytes(user.id, 1), false);
  assert.equal(await users.reserveBytes(user.id, 50, 200), true, "an explicit quota wins");
  assert.equal(await users.adjustUsedBytes(user.id, -30), 120);
  assert.equal(await users.adjustUsedBytes(user.id, -1000), 0, "never below zero");
  assert.equal(await users.adjustUsedBytes("no-such-user", 5), undefined);
  assert.equal(await users.reserveBytes("no-such-user", 5), false);
  assert.equal(await users.findById("no-such-user"), undefined, "no stub record was created");
  assert.equal(await users.setUsedBytes(user.id, 42), true);
  assert.equal((await users.findById(user.id))?.used_bytes, 42);
  await assert.rejects(users.reserveBytes(user.id, -1), RangeError);
  await assert.rejects(users.adjustUsedBytes(user.id, 1.5), RangeError);
});

for (const s3 of [false, true]) {
  Deno.test(`UserStore.readBackup() returns the sealed record without used_bytes (${s3 ? "S3" : "local store"})`, async () => {
    await using server = await startTestServer({ s3 });
    const { users, store } = server.services;
    const user = await users.create({ username: "backup", password_hash: HASH, quota_bytes: 1000 });
    await users.reserveBytes(user.id, 10);
    const { used_bytes: _used, ...rest } = user;
    assert.deepEqual(await users.readBackup(user.id), { v: 1, ...rest });
    assert.deepEqual(await collectAll(users.listBackupIds()), [user.id]);

    const sealed = new Uint8Array(
      await new Response(await store.get(userBackupKey(user.id))).arrayBuffer(),
    );
    const text = new TextDecoder().decode(sealed);
    assert.ok(
      !text.includes("backup") && !text.includes("argon2id"),
      "the backup is not in clear text",
    );

    // A backup moved to another user's key does not open.
    const other = await users.create({ username: "other", password_hash: HASH, quota_bytes: 1 });
    await store.put(userBackupKey(other.id), ReadableStream.from([sealed]));
    await assert.rejects(users.readBackup(other.id), DecryptionError);

    // Another master key cannot open it either.
    const foreign = new UserStore(
      server.services.redis,
      store,
      await KeyRing.create([{ kid: "k1", key: randomBytes(32) }]),
    );
    await assert.rejects(foreign.readBackup(user.id), DecryptionError);
  });
}

Deno.test("UserStore.restore() rebuilds users from backups and never overwrites newer records", async () => {
  await using server = await startTestServer();
  const { users, redis } = server.services;
  const alice = await users.create({ username: "alice", password_hash: HASH, quota_bytes: 1000 });
  const bob = await users.create({ username: "bob", password_hash: HASH, quota_bytes: 1000 });
  await users.reserveBytes(alice.id, 300);
  const backups = await Promise.all(
    (await collectAll(users.listBackupIds())).map(async (id) => (await users.readBackup(id))!),
  );
  assert.equal(backups.length, 2);

  // Redis loses bob entirely; alice is still there (and has usage).
  await redis.del(`user:${bob.id}`, `username:bob`);
  await redis.srem("users", bob.id);
  const outcomes = Object.fromEntries(
    await Promise.all(backups.map(async (b) => [b.username, await users.restore(b)])),
  );
  assert.deepEqual(outcomes, { alice: "kept", bob: "restored" });
  const restoredBob = await users.findByUsername("bob");
  assert.deepEqual(restoredBob, { ...bob, used_bytes: 0 } satisfies UserRecord);
  assert.equal((await users.findById(alice.id))?.used_bytes, 300, "alice's usage is untouched");

  const aliceBackup = backups.find((b) => b.username === "alice")!;
  const newer = {
    ...aliceBackup,
    password_hash: HASH.replace("t=2", "t=3"),
    updated_at: new Date(Date.now() + 60_000).toISOString(),
  };
  assert.equal(await users.restore(newer), "updated");
  assert.equal((await users.findById(alice.id))?.password_hash, newer.password_hash);
  assert.equal((await users.findById(alice.id))?.used_bytes, 300);
  assert.equal(await users.restore(aliceBackup), "kept", "an older backup never wins");

  const impostor = { ...aliceBackup, id: "AAAAAAAAAAAAAAAAAAAAAA" };
  assert.equal(await users.restore(impostor), "conflict");
  assert.equal((await users.findByUsername("alice"))?.id, alice.id);
  await assert.rejects(users.restore({ ...aliceBackup, username: "Bad Name" }), TypeError);
});
