/**
 * The contract every ObjectStore passes: one suite, registered once per backend
 * by object_store_local.test.ts and object_store_s3.test.ts.
 */
import assert from "node:assert/strict";
import { ObjectNotFoundError, type ObjectStore } from "../../storage/object_store.ts";
import { collect, randomBytes, streamOf } from "../helpers.ts";

/** A store under test and what the suite needs to know about its backend. */
export interface StoreFixture extends AsyncDisposable {
  store: ObjectStore;
  /** Bytes per upload part; sizes around it are swept (a small number for local disk). */
  partSize: number;
  /** Uploads started but neither completed nor aborted, found without trusting the store. */
  unfinishedUploads(): Promise<number>;
}

/** What a backend's server can do. */
export interface ContractOptions {
  /** False when the server cannot list unfinished uploads (fauxqs has no ListMultipartUploads). */
  listsUploads?: boolean;
}

/** A stream of `bytes` that stops after `stallAt` bytes until `release()` is called. */
function stallingStream(bytes: Uint8Array, stallAt: number) {
  const reached = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  let offset = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (offset === stallAt) {
        reached.resolve();
        await gate.promise;
      }
      if (offset >= bytes.length) return controller.close();
      const end = Math.min(bytes.length, offset + 65536, offset < stallAt ? stallAt : Infinity);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
  });
  return { stream, reached: reached.promise, release: () => gate.resolve() };
}

/** A stream that delivers `good` bytes and then fails. */
function failingStream(good: number, error: Error): ReadableStream<Uint8Array> {
  const bytes = randomBytes(good);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= good) return controller.error(error);
      controller.enqueue(bytes.slice(offset, offset + 65536));
      offset += 65536;
    },
  });
}

async function assertStored(store: ObjectStore, key: string, expected: Uint8Array) {
  const actual = await collect(await store.get(key));
  assert.equal(actual.length, expected.length, `${key}: length`);
  const differs = actual.findIndex((byte, i) => byte !== expected[i]);
  assert.equal(differs, -1, `${key}: first differing byte`);
}

/**
 * Registers the contract tests for one backend.
 *
 * @param name The backend's class name, used in test names.
 * @param makeStore Creates a fresh, empty store for one test.
 * @param options What the backend's server supports; a test of a missing feature is not
 *   registered (the backend's own test file covers it against a server that has it).
 */
export function objectStoreContract(
  name: string,
  makeStore: () => Promise<StoreFixture>,
  options: ContractOptions = {},
): void {
  const test = (title: string, fn: (fixture: StoreFixture, t: Deno.TestContext) => Promise<void>) =>
    Deno.test(`${name} ${title}`, async (t) => {
      await using fixture = await makeStore();
      await fn(fixture, t);
    });

  test(
    "put() and get() round-trip every size around the part size",
    async ({ store, partSize }, t) => {
      const sizes = [0, 1, partSize - 1, partSize, partSize + 1, 2 * partSize + 7];
      for (const size of sizes) {
        await t.step(`${size} bytes`, async () => {
          const bytes = randomBytes(size);
          assert.equal(await store.put("round/trip", streamOf(bytes, 65537)), size);
          await assertStored(store, "round/trip", bytes);
          assert.equal((await store.head("round/trip"))?.size, size);
          await store.delete("round/trip");
        });
      }
    },
  );

  test("put() replaces an object and its metadata", async ({ store }) => {
    await store.put("a/key", streamOf(randomBytes(100)), { metadata: { kid: "k1" } });
    const second = randomBytes(33);
    await store.put("a/key", streamOf(second));
    await assertStored(store, "a/key", second);
    assert.deepEqual((await store.head("a/key"))?.metadata, {});
  });

  test("get() reads inclusive byte ranges", async ({ store }, t) => {
    const bytes = randomBytes(10_000);
    await store.put("ranged", streamOf(bytes, 4096));
    const cases = [
      { label: "first byte", start: 0, end: 0 },
      { label: "middle", start: 4095, end: 5000 },
      { label: "last byte", start: 9999, end: 9999 },
      { label: "whole", start: 0, end: 9999 },
      { label: "end past the size", start: 9000, end: 20_000 },
    ];
    for (const { label, start, end } of cases) {
      await t.step(label, async () => {
        const actual = await collect(await store.get("ranged", { start, end }));
        assert.deepEqual(actual, bytes.slice(start, end + 1));
      });
    }
    await t.step("start past the end is refused", async () => {
      await assert.rejects(store.get("ranged", { start: 10_000, end: 10_005 }), RangeError);
    });
  });

  test("head() reports size and metadata, undefined when missing", async ({ store }) => {
    await store.put("meta/obj", streamOf(randomBytes(42)), {
      metadata: { kid: "k1", "wrapped-dek": "YWJj" },
      contentLength: 42,
    });
    const info = await store.head("meta/obj");
    assert.equal(info?.key, "meta/obj");
    assert.equal(info?.size, 42);
    assert.deepEqual(info?.metadata, { kid: "k1", "wrapped-dek": "YWJj" });
    assert.ok(info?.lastModified instanceof Date);
    assert.equal(await store.head("meta/missing"), undefined);
  });

  test("get() of a missing key throws ObjectNotFoundError", async ({ store }) => {
    const error = await store.get("no/such/key").catch((e) => e);
    assert.ok(error instanceof ObjectNotFoundError);
    assert.equal(error.key, "no/such/key");
  });

  test("delete() removes an object and accepts a missing key", async ({ store }) => {
    await store.put("del/me", streamOf(randomBytes(5)), { metadata: { a: "b" } });
    await store.delete("del/me");
    assert.equal(await store.head("del/me"), undefined);
    await assert.rejects(store.get("del/me"), ObjectNotFoundError);
    await store.delete("del/me");
    await store.delete("del/never");
  });

  test("list() pages through every key under a prefix in order", async ({ store }) => {
    const keys = Array.from({ length: 25 }, (_, i) => `list/k-${String(24 - i).padStart(2, "0")}`);
    for (const key of [...keys, "list/sub/deep", "list2/x", "other/y"]) {
      await store.put(key, streamOf(new TextEncoder().encode(key)));
    }
    const listed = await Array.fromAsync(store.list("list/"));
    assert.deepEqual(listed.map((o) => o.key), [...keys.toSorted(), "list/sub/deep"]);
    assert.deepEqual(listed.map((o) => o.size), listed.map((o) => o.key.length));
    const partial = await Array.fromAsync(store.list("list/k-1"));
    assert.deepEqual(
      partial.map((o) => o.key),
      keys.filter((k) => k.startsWith("list/k-1")).sort(),
    );
    assert.equal((await Array.fromAsync(store.list("nothing/"))).length, 0);
    assert.equal((await Array.fromAsync(store.list(""))).length, 28);
  });

  test("put() of a failing stream stores nothing and leaves no upload", async (fixture) => {
    const { store, partSize } = fixture;
    const old = randomBytes(10);
    await store.put("fail/old", streamOf(old));
    for (const key of ["fail/new", "fail/old"]) {
      const boom = new Error("source broke");
      await assert.rejects(store.put(key, failingStream(partSize + 65536, boom)), boom);
    }
    assert.equal(await store.head("fail/new"), undefined);
    await assertStored(store, "fail/old", old);
    assert.equal(await fixture.unfinishedUploads(), 0);
  });

  test("put() stops on abort, stores nothing and leaves no upload", async (fixture) => {
    const { store, partSize } = fixture;
    const slow = stallingStream(randomBytes(2 * partSize), partSize + 65536);
    const controller = new AbortController();
    const put = store.put("abort/me", slow.stream, { signal: controller.signal });
    await slow.reached;
    controller.abort(new DOMException("client went away", "AbortError"));
    await assert.rejects(put, { name: "AbortError" });
    slow.release();
    const already = AbortSignal.abort();
    await assert.rejects(store.put("abort/me", streamOf(randomBytes(3)), { signal: already }));
    assert.equal(await store.head("abort/me"), undefined);
    assert.equal(await fixture.unfinishedUploads(), 0);
  });

  if (options.listsUploads !== false) {
    Deno.test({
      name:
        `${name} abortUnfinishedUploads() aborts a stalled upload under the prefix only, unless kept`,
      async fn() {
        await using fixture = await makeStore();
        const { store, partSize } = fixture;
        const slow = stallingStream(randomBytes(partSize + 10), partSize + 5);
        const put = store.put("janitor/stuck", slow.stream);
        put.catch(() => {});
        await slow.reached;
        const hourAgo = new Date(Date.now() - 3_600_000);
        const inAMinute = new Date(Date.now() + 60_000);
        assert.equal(await store.abortUnfinishedUploads("elsewhere/", inAMinute), 0);
        assert.equal(await store.abortUnfinishedUploads("janitor/", hourAgo), 0);
        const asked: string[] = [];
        const keepIt = (key: string) => (asked.push(key), Promise.resolve(true));
        assert.equal(await store.abortUnfinishedUploads("janitor/", inAMinute, keepIt), 0);
        assert.deepEqual(asked, ["janitor/stuck"], "keep() is asked with the object key");
        assert.equal(await fixture.unfinishedUploads(), 1, "a kept upload goes on");
        assert.equal(await store.abortUnfinishedUploads("janitor/", inAMinute), 1);
        assert.equal(await fixture.unfinishedUploads(), 0);
        slow.release();
        await assert.rejects(put);
        assert.equal(await store.head("janitor/stuck"), undefined);
      },
    });
  }

  if (options.listsUploads !== false) {
    Deno.test({
      name:
        `${name} put() clears an unfinished upload an earlier put of the same key left (a killed worker)`,
      async fn() {
        await using fixture = await makeStore();
        const { store, partSize } = fixture;
        const zombie = stallingStream(randomBytes(partSize + 10), partSize + 5);
        const abandoned = store.put("redo/key", zombie.stream);
        abandoned.catch(() => {});
        await zombie.reached;
        assert.equal(await fixture.unfinishedUploads(), 1);
        const redone = randomBytes(partSize + 3);
        assert.equal(await store.put("redo/key", streamOf(redone)), redone.length);
        assert.equal(await fixture.unfinishedUploads(), 0, "nothing is left over");
        await assertStored(store, "redo/key", redone);
        zombie.release();
        await assert.rejects(abandoned); // the abandoned put cannot complete over it
        await assertStored(store, "redo/key", redone);
        assert.equal(await fixture.unfinishedUploads(), 0);
      },
    });
  }

  test("put() is atomic: readers see the old object or nothing, never a part", async ({ store, partSize }) => {
    const old = randomBytes(1000);
    await store.put("atomic/key", streamOf(old));
    const next = randomBytes(partSize + 100);
    const replacing = stallingStream(next, partSize + 50);
    const fresh = stallingStream(next, partSize + 50);
    const puts = [
      store.put("atomic/key", replacing.stream),
      store.put("atomic/fresh", fresh.stream),
    ];
    await Promise.all([replacing.reached, fresh.reached]);
    await assertStored(store, "atomic/key", old);
    assert.equal((await store.head("atomic/key"))?.size, old.length);
    assert.equal(await store.head("atomic/fresh"), undefined);
    await assert.rejects(store.get("atomic/fresh"), ObjectNotFoundError);
    assert.deepEqual(
      (await Array.fromAsync(store.list("atomic/"))).map((o) => o.key),
      ["atomic/key"],
    );
    replacing.release();
    fresh.release();
    assert.deepEqual(await Promise.all(puts), [next.length, next.length]);
    await assertStored(store, "atomic/key", next);
    await assertStored(store, "atomic/fresh", next);
  });

  test("get() streams can be cancelled part-way", async ({ store }) => {
    const bytes = randomBytes(1024 * 1024);
    await store.put("cancel/me", streamOf(bytes));
    for (let i = 0; i < 3; i++) {
      const reader = (await store.get("cancel/me")).getReader();
      assert.ok((await reader.read()).value!.length > 0);
      await reader.cancel();
    }
    await assertStored(store, "cancel/me", bytes);
  });

  test("ping() answers", async ({ store }) => {
    await store.ping();
  });
}
