/**
 * The local object store's key-to-path mapping: no key can leave the root or
 * collide with the store's own files.
 */
import assert from "node:assert/strict";
import { LocalObjectStore } from "../../../storage/local_store.ts";
import { streamOf, tempDir } from "../../helpers.ts";

const HOSTILE = [
  "",
  "..",
  "../escape",
  "a/../../escape",
  "a/./b",
  "/etc/passwd",
  "//server/share",
  "a\0b",
  "a\\..\\b",
  "a//b",
  "a/",
  ".tmp/x",
  "a/b.meta.json",
  "a.meta.json/b",
  "x".repeat(256),
  "a/".repeat(600) + "a",
];

Deno.test("LocalObjectStore refuses keys that could leave the root or collide", async (t) => {
  await using dir = await tempDir();
  const store = await LocalObjectStore.create(`${dir.path}/objects`);
  for (const key of HOSTILE) {
    await t.step(JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key), async () => {
      const calls = [
        () => store.put(key, streamOf(new Uint8Array(1))),
        () => store.get(key),
        () => store.head(key),
        () => store.delete(key),
      ];
      for (const call of calls) await assert.rejects(call(), TypeError);
    });
  }
  assert.deepEqual(await Array.fromAsync(store.list("")), []);
  const names = async (path: string) =>
    (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name);
  assert.deepEqual(await names(dir.path), ["objects"]);
  assert.deepEqual(await names(`${dir.path}/objects`), [".tmp"]);
  assert.deepEqual(await names(`${dir.path}/objects/.tmp`), []);
});

Deno.test("LocalObjectStore maps ordinary keys below the root", async (t) => {
  await using dir = await tempDir();
  const root = `${dir.path}/objects`;
  const store = await LocalObjectStore.create(root);
  for (const key of ["files/u1/f1", "a..b/c", ".hidden", "x/.y", "ünï/cödé", "with space"]) {
    await t.step(key, async () => {
      await store.put(key, streamOf(new Uint8Array([1, 2, 3])));
      assert.equal((await Deno.stat(`${root}/${key}`)).size, 3);
      assert.equal((await store.head(key))?.size, 3);
    });
  }
});

Deno.test("LocalObjectStore list() with a hostile prefix finds nothing", async () => {
  await using dir = await tempDir();
  const store = await LocalObjectStore.create(`${dir.path}/objects`);
  await store.put("a/b", streamOf(new Uint8Array(1)));
  for (const prefix of ["../", "a/../", ".tmp/", "/"]) {
    assert.deepEqual(await Array.fromAsync(store.list(prefix)), [], prefix);
  }
});
