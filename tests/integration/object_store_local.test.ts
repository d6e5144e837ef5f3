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

Deno.test("LocalObjectStore put() of a key removes what a put of it killed with SIGKILL left in .tmp", async () => {
  await using fixture = await localFixture();
  const { store, root } = fixture;
  // A process that starts putting the key, writes 1 MiB and never finishes, then is killed.
  const script = `
    import { LocalObjectStore } from ${
    JSON.stringify(new URL("../../storage/local_store.ts", import.meta.url).href)
  };
    const store = await LocalObjectStore.create(${JSON.stringify(root)});
    const stream = new ReadableStream({
      start(controller) { controller.enqueue(new Uint8Array(1024 * 1024)); console.log("writing"); },
    });
    setInterval(() => {}, 1000); // stay alive while the put waits for more bytes
    await store.put("files/u1/f1", stream);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /writing/);
  reader.releaseLock();
  let tempFiles: string[] = [];
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    tempFiles = (await Array.fromAsync(Deno.readDir(`${root}/.tmp`))).map((entry) => entry.name);
    const sizes = await Promise.all(tempFiles.map((name) => Deno.stat(`${root}/.tmp/${name}`)));
    if (sizes.some((info) => info.size === 1024 * 1024)) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  await child.stdout.cancel().catch(() => {});
  assert.equal(tempFiles.length, 1, "the killed put left its partial file");

  const bytes = randomBytes(1000);
  assert.equal(await store.put("files/u1/f1", streamOf(bytes)), bytes.length);
  assert.deepEqual(
    await Array.fromAsync(Deno.readDir(`${root}/.tmp`)),
    [],
    "nothing is left in .tmp",
  );
  assert.deepEqual((await Array.fromAsync(store.list(""))).map((o) => o.key), ["files/u1/f1"]);
});
