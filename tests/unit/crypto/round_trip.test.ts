/**
 * Cobblestone-256 streams round-trip at the chunk-boundary sizes and under any
 * input chunking, with fresh salts and argument checks.
 */
import { assert, assertEquals, assertThrows } from "./_assert.ts";
import {
  ciphertextSize,
  decryptStream,
  encryptStream,
  fileContext,
  plaintextSize,
} from "../../../crypto/mod.ts";
import {
  bytesEqual,
  CHUNK,
  collect,
  concatBytes,
  decrypt,
  encrypt,
  MIB,
  patternBytes,
  randomBytes,
  streamOf,
} from "./_helpers.ts";

const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * MIB - 1, 5 * MIB, 5 * MIB + 1];
const ODD = [1, 7, 4093, 16385, 100_003, 3];

/** How the plaintext is written: every way for small sizes, no 1-byte writes for MiBs. */
function writePatterns(size: number): [string, number | number[]][] {
  const patterns: [string, number | number[]][] = [
    ["one large write", Math.max(size, 1)],
    ["odd-sized writes", ODD],
  ];
  if (size <= 2 * CHUNK) patterns.unshift(["1-byte writes", 1]);
  return patterns;
}

Deno.test("encryptStream() and decryptStream() round-trip sizes from 0 to 5 MiB + 1", async (t) => {
  const key = randomBytes(32);
  const context = fileContext("owner-1", "file-1");
  for (const size of SIZES) {
    const plaintext = patternBytes(size, size + 1);
    for (const [how, pieces] of writePatterns(size)) {
      await t.step(`${size} bytes, ${how}`, async () => {
        const ciphertext = await encrypt(key, context, plaintext, { pieces });
        assertEquals(ciphertext.length, ciphertextSize(size));
        assertEquals(plaintextSize(ciphertext.length), size);
        // Decrypt with other cuts than the writer used, to cross chunk boundaries.
        const cuts = pieces === 1
          ? 1
          : typeof pieces === "number"
          ? [16_399, 16_401, 65_536]
          : pieces;
        const decrypted = await decrypt(key, context, ciphertext, cuts);
        assert(bytesEqual(decrypted, plaintext), "plaintext differs after the round trip");
      });
    }
  }
});

Deno.test("encryptStream() writes a fresh random salt per message", async () => {
  const key = randomBytes(32);
  const a = await encrypt(key, new Uint8Array(), new Uint8Array(10));
  const b = await encrypt(key, new Uint8Array(), new Uint8Array(10));
  assert(!bytesEqual(a.subarray(0, 24), b.subarray(0, 24)));
  assert(!bytesEqual(a, b));
});

Deno.test("encryptStream() emits the header before any input arrives", async () => {
  const { readable, writable } = encryptStream(randomBytes(32), new Uint8Array());
  const reader = readable.getReader();
  const first = await reader.read();
  assertEquals(first.value?.length, 56);
  await writable.close();
  const rest = await collect(
    new ReadableStream({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
    }),
  );
  assertEquals(rest.length, 16); // the empty final chunk
});

Deno.test("encryptStream() rejects bad keys, salts and options when called", () => {
  const context = new Uint8Array();
  for (const length of [0, 16, 31, 33, 64]) {
    assertThrows(() => encryptStream(new Uint8Array(length), context), TypeError, "32 bytes");
    assertThrows(() => decryptStream(new Uint8Array(length), context), TypeError, "32 bytes");
  }
  const key = new Uint8Array(32);
  assertThrows(() => encryptStream(key, context, { salt: new Uint8Array(23) }), TypeError);
  assertThrows(() => encryptStream(key, context, { concurrency: 0 }), RangeError);
  assertThrows(() => decryptStream(key, context, { concurrency: 1.5 }), RangeError);
  assertThrows(
    () => encryptStream("key" as unknown as Uint8Array, context),
    TypeError,
  );
});

Deno.test("encryptStream() copies key, context and salt when called", async () => {
  const key = randomBytes(32);
  const context = new Uint8Array([1, 2, 3]);
  const salt = randomBytes(24);
  const expected = await encrypt(key.slice(), context.slice(), new Uint8Array(5), { salt });
  const stream = encryptStream(key, context, { salt });
  key.fill(0);
  context.fill(0);
  salt.fill(0);
  const actual = await collect(streamOf(new Uint8Array(5)).pipeThrough(stream));
  assert(bytesEqual(actual, expected));
});

Deno.test("encryptStream() and decryptStream() give the same result at every concurrency", async () => {
  const key = randomBytes(32);
  const salt = randomBytes(24);
  const plaintext = patternBytes(40 * CHUNK + 123);
  const results = [];
  for (const concurrency of [1, 2, 16, 64]) {
    const ciphertext = await collect(
      streamOf(plaintext, 65_536).pipeThrough(
        encryptStream(key, new Uint8Array(), { salt, concurrency }),
      ),
    );
    const decrypted = await collect(
      streamOf(ciphertext, 50_000).pipeThrough(
        decryptStream(key, new Uint8Array(), { concurrency }),
      ),
    );
    assert(bytesEqual(decrypted, plaintext));
    results.push(ciphertext);
  }
  for (const ciphertext of results) assert(bytesEqual(ciphertext, results[0]));
});

Deno.test("encryptStream() does not depend on the caller keeping its buffers intact", async () => {
  // A writer that reuses one buffer for every write, as network readers do.
  const key = randomBytes(32);
  const plaintext = patternBytes(3 * CHUNK + 5);
  const scratch = new Uint8Array(20_000);
  let offset = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= plaintext.length) return controller.close();
      const piece = plaintext.subarray(offset, offset + scratch.length);
      scratch.set(piece);
      controller.enqueue(scratch.subarray(0, piece.length));
      offset += piece.length;
    },
  }, { highWaterMark: 0 });
  const ciphertext = await collect(source.pipeThrough(encryptStream(key, new Uint8Array())));
  const decrypted = await decrypt(key, new Uint8Array(), ciphertext, 20_000);
  assert(bytesEqual(decrypted, plaintext));
  assert(bytesEqual(concatBytes(decrypted), plaintext));
});
