/** Memory bounds, backpressure and eager in-order output of the streams. */

import { assert, assertEquals } from "./_assert.ts";
import { decryptStream, encryptStream } from "../../../crypto/mod.ts";
import {
  CHUNK,
  collect,
  encrypt,
  HEADER,
  patternBytes,
  randomBytes,
  SEALED_CHUNK,
  streamOf,
} from "./_helpers.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An endless source of `size`-byte pieces that counts how much was pulled. */
function countingSource(size: number) {
  const piece = patternBytes(size);
  const counter = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      counter.pulled += size;
      controller.enqueue(piece);
    },
  }, { highWaterMark: 0 });
  return { stream, counter };
}

Deno.test("encryptStream() stops pulling input while its output is not read", async () => {
  const { stream, counter } = countingSource(CHUNK);
  const reader = stream.pipeThrough(encryptStream(randomBytes(32), new Uint8Array())).getReader();
  await reader.read(); // the header
  await reader.read(); // chunk 0
  await delay(50);
  const pulled = counter.pulled;
  await delay(50);
  assertEquals(counter.pulled, pulled, "no progress without reads");
  assert(pulled <= 20 * CHUNK, `pulled ${pulled} bytes while stalled`);
  await reader.cancel();
});

Deno.test("decryptStream() stops pulling input while its output is not read", async () => {
  const key = randomBytes(32);
  const ciphertext = await encrypt(key, new Uint8Array(), patternBytes(200 * CHUNK));
  let offset = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= ciphertext.length) return controller.close();
      controller.enqueue(ciphertext.subarray(offset, offset + 10_000));
      offset += 10_000;
    },
  }, { highWaterMark: 0 });
  const reader = source.pipeThrough(decryptStream(key, new Uint8Array())).getReader();
  await reader.read();
  await delay(50);
  assert(offset <= 20 * SEALED_CHUNK + HEADER, `pulled ${offset} bytes while stalled`);
  await reader.cancel();
});

Deno.test("decryptStream() emits authenticated chunks before the input ends", async () => {
  // A slow producer: output must not wait for the window to fill or the stream to end.
  const key = randomBytes(32);
  const plaintext = patternBytes(4 * CHUNK + 10);
  const ciphertext = await encrypt(key, new Uint8Array(), plaintext);
  const { readable, writable } = decryptStream(key, new Uint8Array());
  const writer = writable.getWriter();
  const reader = readable.getReader();
  // Header plus chunk 0 plus one byte proves chunk 0 is not the final chunk.
  writer.write(ciphertext.subarray(0, HEADER + SEALED_CHUNK + 1));
  const first = await reader.read();
  assertEquals(first.value?.length, CHUNK);
  writer.write(ciphertext.subarray(HEADER + SEALED_CHUNK + 1));
  writer.close();
  let rest = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += value.length;
  }
  assertEquals(rest, plaintext.length - CHUNK);
});

Deno.test("decryptStream() holds back a chunk-sized piece until more input arrives", async () => {
  const key = randomBytes(32);
  const ciphertext = await encrypt(key, new Uint8Array(), patternBytes(2 * CHUNK + 3));
  const { readable, writable } = decryptStream(key, new Uint8Array());
  const writer = writable.getWriter();
  const reader = readable.getReader();
  let emitted = 0;
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      emitted += value.length;
    }
  })();
  await writer.write(ciphertext.subarray(0, HEADER + SEALED_CHUNK)); // exactly one chunk
  await delay(20);
  assertEquals(emitted, 0, "a full chunk at the end of the input may be a truncation");
  await writer.write(ciphertext.subarray(HEADER + SEALED_CHUNK));
  await writer.close();
  await reading;
  assertEquals(emitted, 2 * CHUNK + 3);
});

// Run many times: the write in flight when the reader cancels must always
// settle, and nothing may reject unhandled (Deno loses a transform() rejection
// that arrives after a cancel; the test runner fails on an unhandled one).
Deno.test("encryptStream() settles a large pending write when its output is cancelled", async () => {
  for (let run = 0; run < 50; run++) {
    const { readable, writable } = encryptStream(randomBytes(32), new Uint8Array());
    const writer = writable.getWriter();
    const reader = readable.getReader();
    const written = writer.write(patternBytes(4 * 1024 * 1024)).then(
      () => "settled",
      () => "settled",
    );
    await reader.read(); // header
    await reader.read(); // chunk 0
    await reader.cancel("client went away");
    assertEquals(await written, "settled");
    const again = await writer.write(new Uint8Array(1)).then(() => "accepted", () => "refused");
    assertEquals(again, "refused");
  }
});

Deno.test("decryptStream() settles a large pending write when its output is cancelled", async () => {
  const key = randomBytes(32);
  const ciphertext = await collect(
    streamOf(patternBytes(4 * 1024 * 1024)).pipeThrough(encryptStream(key, new Uint8Array())),
  );
  for (let run = 0; run < 50; run++) {
    const { readable, writable } = decryptStream(key, new Uint8Array());
    const writer = writable.getWriter();
    const reader = readable.getReader();
    const written = writer.write(ciphertext).then(() => "settled", () => "settled");
    await reader.read(); // chunk 0
    await reader.cancel("client went away");
    assertEquals(await written, "settled");
    const again = await writer.write(new Uint8Array(1)).then(() => "accepted", () => "refused");
    assertEquals(again, "refused");
  }
});
