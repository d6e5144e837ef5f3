/**
 * The staging area: private files, the size limit enforced while streaming,
 * cleanup on failure or abort, and hostile ids refused.
 */
import assert from "node:assert/strict";
import { CofferError } from "../../../errors.ts";
import { StagingArea } from "../../../storage/staging.ts";
import { collect, randomBytes, streamOf, tempDir } from "../../helpers.ts";

async function stagingFixture() {
  const dir = await tempDir();
  const staging = await StagingArea.create(dir.path);
  return { staging, [Symbol.asyncDispose]: () => dir[Symbol.asyncDispose]() };
}

/** A stream of `good` bytes that then fails with `error`. */
function failingStream(good: number, error: Error): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent) return controller.error(error);
      controller.enqueue(randomBytes(good));
      sent = true;
    },
  });
}

async function entries(staging: StagingArea): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(staging.dir))).map((e) => e.name);
}

Deno.test("StagingArea.create() makes a private folder", async () => {
  await using fixture = await stagingFixture();
  assert.equal((await Deno.stat(fixture.staging.dir)).mode! & 0o777, 0o700);
});

Deno.test("StagingArea stageUpload() stores the body with mode 0600", async () => {
  await using fixture = await stagingFixture();
  const { staging } = fixture;
  const bytes = randomBytes(200_000);
  assert.equal(
    await staging.stageUpload("f1", streamOf(bytes, 7000), { maxBytes: 200_000 }),
    200_000,
  );
  assert.equal((await Deno.stat(`${staging.dir}/f1`)).mode! & 0o777, 0o600);
  assert.equal(await staging.size("f1"), 200_000);
  assert.deepEqual(await collect(await staging.open("f1")), bytes);
  const [listed] = await staging.list();
  assert.equal(listed.id, "f1");
  assert.equal(listed.size, 200_000);
  assert.ok(listed.mtime instanceof Date);
  await staging.remove("f1");
  await staging.remove("f1");
  assert.deepEqual(await staging.list(), []);
});

Deno.test("StagingArea stageUpload() accepts sizes up to the limit exactly", async (t) => {
  await using fixture = await stagingFixture();
  const { staging } = fixture;
  const max = 1000;
  for (const size of [0, 1, max - 1, max]) {
    await t.step(`${size} bytes`, async () => {
      assert.equal(
        await staging.stageUpload(`s${size}`, streamOf(randomBytes(size), 300), { maxBytes: max }),
        size,
      );
    });
  }
});

Deno.test("StagingArea stageUpload() fails with PAYLOAD_TOO_LARGE past the limit and keeps nothing", async (t) => {
  await using fixture = await stagingFixture();
  const { staging } = fixture;
  for (const size of [1001, 5000, 1_000_000]) {
    await t.step(`${size} bytes`, async () => {
      let pulled = 0;
      const body = streamOf(randomBytes(size), 100).pipeThrough(
        new TransformStream({
          transform(chunk, controller) {
            pulled += chunk.length;
            controller.enqueue(chunk);
          },
        }),
      );
      const error = await staging.stageUpload("big", body, { maxBytes: 1000 }).catch((e) => e);
      assert.ok(error instanceof CofferError);
      assert.equal(error.code, "PAYLOAD_TOO_LARGE");
      assert.ok(pulled <= 1200, `read ${pulled} bytes after passing the limit`);
      assert.deepEqual(await entries(staging), []);
    });
  }
});

Deno.test("StagingArea stageUpload() removes the file when the body fails", async () => {
  await using fixture = await stagingFixture();
  const boom = new Error("connection reset");
  await assert.rejects(
    fixture.staging.stageUpload("broken", failingStream(5000, boom), { maxBytes: 1e9 }),
    boom,
  );
  assert.deepEqual(await entries(fixture.staging), []);
});

Deno.test("StagingArea stageUpload() removes the file when the client aborts", async () => {
  await using fixture = await stagingFixture();
  const controller = new AbortController();
  const gate = Promise.withResolvers<void>();
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (!sent) {
        sent = true;
        c.enqueue(randomBytes(5000));
        return;
      }
      controller.abort(new DOMException("client went away", "AbortError"));
      await gate.promise;
    },
  });
  await assert.rejects(
    fixture.staging.stageUpload("aborted", body, { maxBytes: 1e9, signal: controller.signal }),
    { name: "AbortError" },
  );
  gate.resolve();
  assert.deepEqual(await entries(fixture.staging), []);
});

Deno.test("StagingArea stageUpload() never replaces an existing staged file", async () => {
  await using fixture = await stagingFixture();
  const { staging } = fixture;
  await staging.stageUpload("dup", streamOf(randomBytes(10)), { maxBytes: 100 });
  await assert.rejects(
    staging.stageUpload("dup", streamOf(randomBytes(20)), { maxBytes: 100 }),
    Deno.errors.AlreadyExists,
  );
  assert.equal(await staging.size("dup"), 10);
});

Deno.test("StagingArea rejects hostile ids in every method", async (t) => {
  await using fixture = await stagingFixture();
  const { staging } = fixture;
  const hostile = ["", "..", "../x", "a/b", "/etc/passwd", "a\0b", "a.b", "ü", "x".repeat(129)];
  for (const id of hostile) {
    await t.step(JSON.stringify(id), async () => {
      const calls = [
        () => staging.stageUpload(id, streamOf(randomBytes(1)), { maxBytes: 10 }),
        () => staging.open(id),
        () => staging.size(id),
        () => staging.remove(id),
      ];
      for (const call of calls) {
        const error = await call().then(() => undefined, (e) => e);
        assert.ok(error instanceof CofferError && error.code === "BAD_REQUEST", String(error));
      }
    });
  }
  assert.deepEqual(await entries(staging), []);
});
