/**
 * LocalObjectStore against the shared contract, plus what only the disk
 * backend promises: private file modes and no trace of temp files or sidecars.
 */
import assert from "node:assert/strict";
import { LocalObjectStore } from "../../storage/local_store.ts";
import { randomBytes, streamOf, tempDir } from "../helpers.ts";
import { objectStoreContract, type StoreFixture } from "./object_store_contract.ts";

async function localFixture(): Promise<StoreFixture & { root: string }> {
  const dir = await tempDir();
  const root = `${dir.path}/objects`;
  const store = await LocalObjectStore.create(root);
  return {
    store,
    root,
    partSize: 65536 + 3,
    unfinishedUploads: async () => (await Array.fromAsync(Deno.readDir(`${root}/.tmp`))).length,
    async [Symbol.asyncDispose]() {
      await store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

objectStoreContract("LocalObjectStore", localFixture);

Deno.test("LocalObjectStore put() writes private files and lists no sidecar", async () => {
  await using fixture = await localFixture();
  const { store, root } = fixture;
  await store.put("files/u1/f1", streamOf(randomBytes(10)), { metadata: { kid: "k1" } });
  assert.equal((await Deno.stat(`${root}/files/u1/f1`)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(`${root}/files/u1/f1.meta.json`)).mode! & 0o777, 0o600);
  assert.equal((await Deno.stat(`${root}/files/u1`)).mode! & 0o777, 0o700);
  assert.deepEqual((await Array.fromAsync(store.list(""))).map((o) => o.key), ["files/u1/f1"]);
  assert.equal(await fixture.unfinishedUploads(), 0);
  await store.delete("files/u1/f1");
  assert.deepEqual(await Array.fromAsync(Deno.readDir(`${root}/files/u1`)), []);
});

Deno.test("LocalObjectStore get() streams only the requested range of a large object", async () => {
  await using fixture = await localFixture();
  const bytes = randomBytes(3 * 1024 * 1024);
  await fixture.store.put("big", streamOf(bytes));
  const reader = (await fixture.store.get("big", { start: 1_000_000, end: 1_000_009 })).getReader();
  const chunks: Uint8Array[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
  assert.deepEqual(chunks, [bytes.slice(1_000_000, 1_000_010)]);
});
