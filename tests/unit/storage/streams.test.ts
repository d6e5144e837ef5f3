/**
 * collectBytes(): small objects are read whole, and a stream past its bound
 * is refused as soon as the bound is passed, with the source cancelled.
 */
import assert from "node:assert/strict";
import { collectBytes } from "../../../storage/streams.ts";

Deno.test("collectBytes() joins the pieces of a stream within its bound", async () => {
  const pieces = [new Uint8Array([1, 2]), new Uint8Array([]), new Uint8Array([3])];
  assert.deepEqual(await collectBytes(ReadableStream.from(pieces), 3), new Uint8Array([1, 2, 3]));
  assert.deepEqual(await collectBytes(ReadableStream.from([]), 0), new Uint8Array(0));
});

Deno.test("collectBytes() refuses a stream longer than its bound and cancels it", async () => {
  let pulled = 0;
  let cancelled = false;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(1024));
    },
    cancel() {
      cancelled = true;
    },
  });
  await assert.rejects(collectBytes(endless, 4096), {
    name: "RangeError",
    message: "Cannot read the object: it is larger than 4096 bytes",
  });
  assert.ok(cancelled, "the source was cancelled");
  assert.ok(pulled <= 6, `pulled ${pulled} pieces`);
});
