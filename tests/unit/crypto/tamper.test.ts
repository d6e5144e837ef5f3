/**
 * Every tampering case of SPEC §7 fails with DecryptionError, through the
 * streaming decryptor (which may emit at most the valid prefix) and through
 * the random-access decryptor.
 */

import { assert, assertEquals, assertInstanceOf, assertRejects } from "./_assert.ts";
import {
  type CryptoEngine,
  DecryptionError,
  decryptStream,
  fileContext,
  openRangeDecryptor,
} from "../../../crypto/mod.ts";
import { eachEngine } from "./_engines.ts";
import {
  bytesEqual,
  CHUNK,
  chunkOf,
  collectUntilError,
  concatBytes,
  encrypt,
  HEADER,
  memorySource,
  patternBytes,
  randomBytes,
  SEALED_CHUNK,
  streamOf,
} from "./_helpers.ts";

const key = randomBytes(32);
const context = fileContext("owner", "file-a");
// Three full chunks and a 1000-byte final chunk.
const plaintext = patternBytes(3 * CHUNK + 1000, 7);
const ciphertext = await encrypt(key, context, plaintext);
const FINAL = 3;
assertEquals(ciphertext.length, HEADER + 3 * SEALED_CHUNK + 1016);

/**
 * Asserts that both decryptors reject `tampered`: the stream errors with
 * DecryptionError and emits at most `validChunks` whole chunks of the
 * original plaintext; reading the whole message at random fails too.
 */
async function assertRejected(
  engine: CryptoEngine,
  tampered: Uint8Array,
  options: {
    key?: Uint8Array;
    context?: Uint8Array;
    validChunks?: number;
    original?: Uint8Array;
  } = {},
): Promise<void> {
  const k = options.key ?? key;
  const c = options.context ?? context;
  const original = options.original ?? plaintext;
  for (const pieces of [tampered.length || 1, 4099]) {
    const { output, error } = await collectUntilError(
      streamOf(tampered, pieces).pipeThrough(decryptStream(k, c, { engine })),
    );
    assertInstanceOf(error, DecryptionError);
    assert(output.length <= (options.validChunks ?? 0) * CHUNK, `emitted ${output.length} bytes`);
    assert(bytesEqual(output, original.subarray(0, output.length)), "emitted unauthentic bytes");
  }
  await assertRejects(async () => {
    const decryptor = await openRangeDecryptor(k, c, memorySource(tampered), { engine });
    await decryptor.read();
  }, DecryptionError);
}

function flipBit(bytes: Uint8Array, offset: number, bit = 0): Uint8Array {
  const copy = bytes.slice();
  copy[offset] ^= 1 << bit;
  return copy;
}

function replaceChunk(target: Uint8Array, k: number, chunk: Uint8Array): Uint8Array {
  const copy = target.slice();
  assertEquals(chunk.length, chunkOf(target, k).length);
  copy.set(chunk, HEADER + k * SEALED_CHUNK);
  return copy;
}

eachEngine("decryptStream() accepts the untampered ciphertext", async (engine) => {
  const { output, error } = await collectUntilError(
    streamOf(ciphertext).pipeThrough(decryptStream(key, context, { engine })),
  );
  assertEquals(error, undefined);
  assert(bytesEqual(output, plaintext));
});

eachEngine("decryptStream() rejects a bit flip anywhere", async (engine, t) => {
  const cases: [string, number, number][] = [
    ["first salt byte", 0, 0],
    ["last salt byte", 23, 7],
    ["first commitment byte", 24, 0],
    ["last commitment byte", 55, 7],
    ["chunk 0 body", HEADER, 0],
    ["chunk 1 body", HEADER + SEALED_CHUNK + 5000, 3],
    ["chunk 0 tag", HEADER + SEALED_CHUNK - 1, 0],
    ["chunk 2 tag", HEADER + 3 * SEALED_CHUNK - 16, 5],
    ["final chunk body", HEADER + 3 * SEALED_CHUNK, 0],
    ["final chunk tag", ciphertext.length - 1, 7],
  ];
  for (const [where, offset, bit] of cases) {
    await t.step(where, async () => {
      const chunk = offset < HEADER ? 0 : Math.floor((offset - HEADER) / SEALED_CHUNK);
      await assertRejected(engine, flipBit(ciphertext, offset, bit), { validChunks: chunk });
    });
  }
});

eachEngine(
  "decryptStream() rejects truncation at every chunk boundary and mid-chunk",
  async (engine, t) => {
    const lengths = new Set<number>([0, 1, 23, 24, 55, 56, 57, 71]);
    for (let k = 0; k <= FINAL; k++) {
      const start = HEADER + k * SEALED_CHUNK;
      for (const delta of [0, 1, 15, 16, 8000, SEALED_CHUNK - 16, SEALED_CHUNK - 1]) {
        if (start + delta < ciphertext.length) lengths.add(start + delta);
      }
    }
    lengths.add(ciphertext.length - 1);
    for (const length of [...lengths].sort((a, b) => a - b)) {
      await t.step(`truncated to ${length} bytes`, async () => {
        await assertRejected(engine, ciphertext.subarray(0, length), {
          validChunks: Math.max(0, Math.floor((length - HEADER) / SEALED_CHUNK)),
        });
      });
    }
  },
);

eachEngine("decryptStream() rejects a dropped final chunk", async (engine) => {
  await assertRejected(engine, ciphertext.subarray(0, HEADER + FINAL * SEALED_CHUNK), {
    validChunks: FINAL,
  });
});

eachEngine("decryptStream() rejects appended garbage", async (engine, t) => {
  for (const extra of [1, 15, 16, 17, SEALED_CHUNK - 1017, SEALED_CHUNK, 40_000]) {
    await t.step(`${extra} random bytes`, async () => {
      await assertRejected(engine, concatBytes(ciphertext, randomBytes(extra)), {
        validChunks: FINAL,
      });
    });
  }
});

eachEngine("decryptStream() rejects an appended validly encrypted chunk", async (engine) => {
  // Same key, salt and context, longer message: its chunk 4 is valid at index 4.
  const salt = ciphertext.subarray(0, 24);
  const longer = await encrypt(key, context, patternBytes(5 * CHUNK + 10, 9), { salt, engine });
  await assertRejected(engine, concatBytes(ciphertext, chunkOf(longer, 4)), { validChunks: FINAL });
  // And a full message whose final chunk is followed by the next valid one.
  const message = patternBytes(2 * CHUNK, 3);
  const full = await encrypt(key, context, message, { salt, engine });
  const next = await encrypt(key, context, patternBytes(3 * CHUNK + 1, 3), { salt, engine });
  await assertRejected(engine, concatBytes(full, chunkOf(next, 2)), {
    validChunks: 2,
    original: message,
  });
});

eachEngine("decryptStream() rejects swapped and duplicated chunks", async (engine, t) => {
  await t.step("chunks 0 and 1 swapped", async () => {
    const swapped = replaceChunk(
      replaceChunk(ciphertext, 0, chunkOf(ciphertext, 1)),
      1,
      chunkOf(ciphertext, 0),
    );
    await assertRejected(engine, swapped);
  });
  await t.step("chunk 0 duplicated over chunk 1", async () => {
    await assertRejected(engine, replaceChunk(ciphertext, 1, chunkOf(ciphertext, 0)), {
      validChunks: 1,
    });
  });
  await t.step("chunk 2 duplicated over chunk 1", async () => {
    await assertRejected(engine, replaceChunk(ciphertext, 1, chunkOf(ciphertext, 2)), {
      validChunks: 1,
    });
  });
  await t.step("final chunk moved one place earlier", async () => {
    const moved = concatBytes(
      ciphertext.subarray(0, HEADER + 2 * SEALED_CHUNK),
      chunkOf(ciphertext, FINAL),
    );
    await assertRejected(engine, moved, { validChunks: 2 });
  });
});

eachEngine(
  "decryptStream() rejects chunks spliced from another file under the same key",
  async (engine, t) => {
    const other = await encrypt(key, context, patternBytes(3 * CHUNK + 1000, 8), { engine });
    await t.step("chunk 1 from the other file", async () => {
      await assertRejected(engine, replaceChunk(ciphertext, 1, chunkOf(other, 1)), {
        validChunks: 1,
      });
    });
    await t.step("final chunk from the other file", async () => {
      await assertRejected(engine, replaceChunk(ciphertext, FINAL, chunkOf(other, FINAL)), {
        validChunks: FINAL,
      });
    });
    await t.step("header from the other file", async () => {
      const spliced = concatBytes(other.subarray(0, HEADER), ciphertext.subarray(HEADER));
      await assertRejected(engine, spliced);
    });
  },
);

eachEngine(
  "decryptStream() rejects a wrong context before decrypting any chunk",
  async (engine, t) => {
    await t.step(
      "other file id",
      () => assertRejected(engine, ciphertext, { context: fileContext("owner", "file-b") }),
    );
    await t.step(
      "other owner id",
      () => assertRejected(engine, ciphertext, { context: fileContext("owner-2", "file-a") }),
    );
    await t.step(
      "empty context",
      () => assertRejected(engine, ciphertext, { context: new Uint8Array() }),
    );
  },
);

eachEngine("decryptStream() rejects a wrong key", async (engine) => {
  await assertRejected(engine, ciphertext, { key: randomBytes(32) });
  const flipped = key.slice();
  flipped[31] ^= 0x80;
  await assertRejected(engine, ciphertext, { key: flipped });
});

eachEngine(
  "decryptStream() keeps failing after an error, for readers and writers",
  async (engine) => {
    const { readable, writable } = decryptStream(key, context, { engine });
    const writer = writable.getWriter();
    const reader = readable.getReader();
    const tampered = flipBit(ciphertext, 30);
    const written = writer.write(tampered).catch((error) => error);
    const first = await reader.read().catch((error) => error);
    assertInstanceOf(first, DecryptionError);
    assertInstanceOf(await written, DecryptionError);
    for (let i = 0; i < 3; i++) {
      assertEquals(await reader.read().catch((error) => error), first);
      assertEquals(await writer.write(new Uint8Array(1)).catch((error) => error), first);
    }
    // close() on an errored stream rejects with a TypeError, as the Streams spec says.
    assertInstanceOf(await writer.close().then(() => "closed", (error) => error), Error);
  },
);

eachEngine("decryptStream() never emits a chunk after a failed one", async (engine) => {
  // Corrupt chunk 5 of 40; chunks 6.. decrypt fine but must never appear.
  const big = patternBytes(40 * CHUNK + 7, 11);
  const sealed = await encrypt(key, context, big, { engine });
  const tampered = flipBit(sealed, HEADER + 5 * SEALED_CHUNK + 100);
  for (const pieces of [tampered.length, SEALED_CHUNK * 3 + 1, 1000]) {
    const { output, error } = await collectUntilError(
      streamOf(tampered, pieces).pipeThrough(
        decryptStream(key, context, { concurrency: 16, engine }),
      ),
    );
    assertInstanceOf(error, DecryptionError);
    assert(output.length <= 5 * CHUNK);
    assert(bytesEqual(output, big.subarray(0, output.length)));
  }
});

eachEngine("decryptStream() rejects a non-Uint8Array chunk", async (engine) => {
  const { output, error } = await collectUntilError(
    ReadableStream.from(["not bytes" as unknown as Uint8Array]).pipeThrough(
      decryptStream(key, context, { engine }),
    ),
  );
  assertEquals(output.length, 0);
  assertInstanceOf(error, TypeError);
});
