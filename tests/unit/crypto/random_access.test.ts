/**
 * Random-access decryption: which ciphertext ranges each plaintext range
 * reads, suffix ranges authenticated by the final chunk, and edge sizes.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "./_assert.ts";
import {
  type CiphertextSource,
  type CryptoEngine,
  DecryptionError,
  decryptRange,
  fileContext,
  openRangeDecryptor,
} from "../../../crypto/mod.ts";
import { eachEngine } from "./_engines.ts";
import {
  bytesEqual,
  CHUNK,
  collect,
  encrypt,
  HEADER,
  memorySource,
  patternBytes,
  randomBytes,
  SEALED_CHUNK,
} from "./_helpers.ts";

const key = randomBytes(32);
const context = fileContext("owner", "ranged");
// Five full chunks and a 777-byte final chunk (index 5).
const plaintext = patternBytes(5 * CHUNK + 777, 5);
const ciphertext = await encrypt(key, context, plaintext);
const size = plaintext.length;

/** Ciphertext bytes [first, last] of chunks first..last, as one inclusive byte range. */
function chunkRange(first: number, last: number, total = ciphertext.length): [number, number] {
  return [HEADER + first * SEALED_CHUNK, Math.min(HEADER + (last + 1) * SEALED_CHUNK, total) - 1];
}

async function open(
  engine: CryptoEngine,
  source = memorySource(ciphertext),
  chunksPerRead?: number,
) {
  const decryptor = await openRangeDecryptor(key, context, source, { chunksPerRead, engine });
  assertEquals(source.reads, [[0, HEADER - 1]], "open reads the header only");
  source.reads.length = 0;
  return { decryptor, source };
}

eachEngine("openRangeDecryptor() reads the first byte from chunk 0 only", async (engine) => {
  const { decryptor, source } = await open(engine);
  assertEquals(decryptor.size, size);
  assertEquals(await decryptor.read(0, 0), plaintext.subarray(0, 1));
  assertEquals(source.reads, [chunkRange(0, 0)]);
});

eachEngine("openRangeDecryptor() reads the last byte from the final chunk only", async (engine) => {
  const { decryptor, source } = await open(engine);
  assertEquals(await decryptor.read(size - 1, size - 1), plaintext.subarray(size - 1));
  assertEquals(source.reads, [chunkRange(5, 5)]);
  assertEquals(source.bytesRead, 777 + 16);
});

eachEngine(
  "openRangeDecryptor() reads a range spanning three chunks in one request",
  async (engine) => {
    const { decryptor, source } = await open(engine);
    const start = CHUNK + 100;
    const end = 3 * CHUNK + 50;
    const bytes = await decryptor.read(start, end);
    assert(bytesEqual(bytes, plaintext.subarray(start, end + 1)));
    assertEquals(source.reads, [chunkRange(1, 3)]);
    assertEquals(source.bytesRead, 3 * SEALED_CHUNK);
  },
);

eachEngine("openRangeDecryptor() batches reads by chunksPerRead", async (engine) => {
  const { decryptor, source } = await open(engine, memorySource(ciphertext), 2);
  const bytes = await decryptor.read(0, size - 1);
  assert(bytesEqual(bytes, plaintext));
  assertEquals(source.reads, [chunkRange(0, 1), chunkRange(2, 3), chunkRange(4, 5)]);
});

eachEngine(
  "openRangeDecryptor() serves suffix ranges after authenticating the final chunk",
  async (engine, t) => {
    await t.step("suffix inside the final chunk needs no further read", async () => {
      const { decryptor, source } = await open(engine);
      assertEquals(await decryptor.authenticateSize(), size);
      assertEquals(source.reads, [chunkRange(5, 5)]);
      const bytes = await decryptor.read(size - 500, size - 1);
      assert(bytesEqual(bytes, plaintext.subarray(size - 500)));
      assertEquals(source.reads.length, 1, "the final chunk is served from memory");
    });
    await t.step("suffix spanning two chunks reads only the one not cached", async () => {
      const { decryptor, source } = await open(engine);
      await decryptor.authenticateSize();
      const bytes = await decryptor.read(size - 1000, size - 1);
      assert(bytesEqual(bytes, plaintext.subarray(size - 1000)));
      assertEquals(source.reads, [chunkRange(5, 5), chunkRange(4, 4)]);
    });
    await t.step("a tampered final chunk fails the length check", async () => {
      const tampered = ciphertext.slice();
      tampered[tampered.length - 1] ^= 1;
      const decryptor = await openRangeDecryptor(key, context, memorySource(tampered), { engine });
      await assertRejects(() => decryptor.authenticateSize(), DecryptionError);
      await assertRejects(() => decryptor.authenticateSize(), DecryptionError);
    });
  },
);

eachEngine(
  "openRangeDecryptor() authenticates the length when a range reaches the end",
  async (engine) => {
    const tampered = ciphertext.slice();
    tampered[tampered.length - 1] ^= 1;
    const decryptor = await openRangeDecryptor(key, context, memorySource(tampered), { engine });
    const prefix = await decryptor.read(0, 5 * CHUNK - 1);
    assert(bytesEqual(prefix, plaintext.subarray(0, 5 * CHUNK)));
    await assertRejects(() => decryptor.read(5 * CHUNK - 10, size - 1), DecryptionError);
    await assertRejects(() => decryptor.read(), DecryptionError);
  },
);

eachEngine(
  "openRangeDecryptor() includes the empty final chunk of a chunk-aligned message",
  async (engine) => {
    const aligned = patternBytes(2 * CHUNK, 2);
    const sealed = await encrypt(key, context, aligned, { engine });
    const source = memorySource(sealed);
    const decryptor = await openRangeDecryptor(key, context, source, { engine });
    source.reads.length = 0;
    assert(bytesEqual(await decryptor.read(CHUNK, 2 * CHUNK - 1), aligned.subarray(CHUNK)));
    assertEquals(source.reads, [chunkRange(1, 2, sealed.length)]);
  },
);

eachEngine("openRangeDecryptor() handles an empty file", async (engine) => {
  const sealed = await encrypt(key, context, new Uint8Array(), { engine });
  assertEquals(sealed.length, 72);
  const decryptor = await openRangeDecryptor(key, context, memorySource(sealed), { engine });
  assertEquals(decryptor.size, 0);
  assertEquals(await decryptor.authenticateSize(), 0);
  assertEquals((await decryptor.read()).length, 0);
  assertEquals((await collect(decryptor.stream(0, -1))).length, 0);
  assertThrows(() => decryptor.stream(0, 0), RangeError);
  const tampered = sealed.slice();
  tampered[60] ^= 1;
  const bad = await openRangeDecryptor(key, context, memorySource(tampered), { engine });
  await assertRejects(() => bad.read(), DecryptionError);
});

eachEngine("openRangeDecryptor() rejects ranges outside the plaintext", async (engine) => {
  const { decryptor } = await open(engine);
  for (const [start, end] of [[-1, 0], [0, size], [10, 8], [0.5, 3], [0, Infinity]]) {
    assertThrows(() => decryptor.stream(start, end), RangeError);
  }
  assertEquals((await decryptor.read(10, 9)).length, 0, "an empty range is allowed");
});

eachEngine("openRangeDecryptor() decrypts random ranges exactly", async (engine) => {
  const { decryptor } = await open(engine, memorySource(ciphertext), 3);
  for (let i = 0; i < 60; i++) {
    const a = Math.floor(Math.random() * size);
    const b = a + Math.floor(Math.random() * (size - a));
    assert(bytesEqual(await decryptor.read(a, b), plaintext.subarray(a, b + 1)), `range ${a}-${b}`);
  }
});

eachEngine(
  "openRangeDecryptor() rejects a wrong key, context or impossible length",
  async (engine) => {
    await assertRejects(
      () => openRangeDecryptor(randomBytes(32), context, memorySource(ciphertext)),
      DecryptionError,
    );
    await assertRejects(
      () =>
        openRangeDecryptor(key, fileContext("owner", "other"), memorySource(ciphertext), {
          engine,
        }),
      DecryptionError,
    );
    for (const length of [0, 71, HEADER + SEALED_CHUNK, HEADER + SEALED_CHUNK + 15]) {
      await assertRejects(
        () =>
          openRangeDecryptor(key, context, memorySource(ciphertext.subarray(0, length)), {
            engine,
          }),
        DecryptionError,
      );
    }
    await assertRejects(
      () => openRangeDecryptor(new Uint8Array(16), context, memorySource(ciphertext)),
      TypeError,
    );
  },
);

eachEngine(
  "openRangeDecryptor() rejects a source that returns the wrong length",
  async (engine) => {
    const honest = memorySource(ciphertext);
    const source: CiphertextSource = {
      ciphertextSize: ciphertext.length,
      readRange: (start, end) =>
        honest.readRange(start, end).then((bytes) => start === 0 ? bytes : bytes.subarray(1)),
    };
    const decryptor = await openRangeDecryptor(key, context, source, { engine });
    await assertRejects(() => decryptor.read(0, 10), DecryptionError);
  },
);

eachEngine("openRangeDecryptor() lets a read error through and allows a retry", async (engine) => {
  let fail = true;
  const honest = memorySource(ciphertext);
  const source: CiphertextSource = {
    ciphertextSize: ciphertext.length,
    readRange: (start, end) =>
      start > 0 && fail ? Promise.reject(new Error("network down")) : honest.readRange(start, end),
  };
  const decryptor = await openRangeDecryptor(key, context, source, { engine });
  await assertRejects(() => decryptor.authenticateSize(), Error, "network down");
  fail = false;
  assertEquals(await decryptor.authenticateSize(), size);
});

eachEngine("openRangeDecryptor() streams can be cancelled midway", async (engine) => {
  const big = patternBytes(50 * CHUNK, 4);
  const sealed = await encrypt(key, context, big, { engine });
  const decryptor = await openRangeDecryptor(key, context, memorySource(sealed), {
    chunksPerRead: 8,
  });
  const reader = decryptor.stream().getReader();
  const first = await reader.read();
  assert(first.value && bytesEqual(first.value, big.subarray(0, first.value.length)));
  await reader.cancel();
});

eachEngine("decryptRange() decrypts one range in one call", async (engine) => {
  const bytes = await decryptRange(
    key,
    context,
    memorySource(ciphertext),
    3 * CHUNK - 1,
    3 * CHUNK,
    { engine },
  );
  assert(bytesEqual(bytes, plaintext.subarray(3 * CHUNK - 1, 3 * CHUNK + 1)));
});
