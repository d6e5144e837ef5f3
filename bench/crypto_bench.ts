/**
 * Cobblestone-256 throughput: `encryptStream` / `decryptStream` over an
 * in-memory stream, next to two loops of WebCrypto AES-256-GCM calls on
 * 16 KiB buffers in the same run: one call at a time (the target's
 * baseline), and 16 calls kept in flight with no stream around them (what
 * WebCrypto itself can do here, the streams' ceiling). Runs are interleaved
 * and the median is reported.
 *
 *     deno run bench/crypto_bench.ts [mib] [runs]
 *
 * @module
 */

import { decryptStream, encryptStream } from "../crypto/mod.ts";

/** Options of {@linkcode benchCrypto}. */
export interface BenchCryptoOptions {
  /** Plaintext size in MiB (default 256). */
  mib?: number;
  /** Runs per measurement; the median is reported (default 3). */
  runs?: number;
}

const MIB = 1024 * 1024;
const CHUNK = 16384;
const PIECE = 64 * 1024; // how the input arrives, like an HTTP body

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A stream of `total` bytes in PIECE-sized subarrays of `data` (repeated as needed). */
function pieces(data: Uint8Array, total: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= total) return controller.close();
      const length = Math.min(PIECE, total - offset);
      const at = offset % data.length;
      const end = Math.min(at + length, data.length);
      controller.enqueue(data.subarray(at, end));
      offset += end - at;
    },
  }, { highWaterMark: 0 });
}

function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const piece of stream) bytes += piece.length;
  return bytes;
}

async function timed(mib: number, run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return mib / ((performance.now() - start) / 1000);
}

/** Calls kept in flight by the ceiling loop (encryptStream's default). */
const CEILING_IN_FLIGHT = 16;

/**
 * `mib` MiB of WebCrypto AES-256-GCM calls on `input` (16 KiB, or a sealed
 * 16 KiB chunk to decrypt), `inFlight` calls at a time.
 */
async function callLoop(
  key: CryptoKey,
  mib: number,
  input: Uint8Array<ArrayBuffer>,
  decrypt: boolean,
  inFlight: number,
): Promise<void> {
  const chunks = (mib * MIB) / CHUNK;
  let next = 0;
  const lane = async () => {
    while (next < chunks) {
      const iv = new Uint8Array(12);
      if (!decrypt) new DataView(iv.buffer).setUint32(8, next);
      next++;
      if (decrypt) await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, input);
      else await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, input);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

/**
 * Measures encrypt and decrypt throughput in MiB/s.
 *
 * @param opts Size in MiB and number of runs.
 * @returns Median MiB/s of `cobblestone_encrypt`, `cobblestone_decrypt`,
 *   `bare_encrypt`, `bare_decrypt`, `ceiling_encrypt`, `ceiling_decrypt`,
 *   and the speedups over the bare loop.
 * @example
 * ```ts
 * import { benchCrypto } from "./crypto_bench.ts";
 * const results = await benchCrypto({ mib: 64, runs: 3 });
 * ```
 */
export async function benchCrypto(opts: BenchCryptoOptions = {}): Promise<Record<string, number>> {
  const mib = opts.mib ?? 256;
  const runs = opts.runs ?? 3;
  const total = mib * MIB;
  const key = crypto.getRandomValues(new Uint8Array(32));
  const context = new TextEncoder().encode("bench");
  const plaintext = randomBytes(MIB);

  // One ciphertext, built once, to decrypt on every run.
  const ciphertext = new Uint8Array(56 + total + 16 * (total / CHUNK + 1));
  let filled = 0;
  for await (const piece of pieces(plaintext, total).pipeThrough(encryptStream(key, context))) {
    ciphertext.set(piece, filled);
    filled += piece.length;
  }

  const aesKey = await crypto.subtle.importKey("raw", key, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  const block = plaintext.slice(0, CHUNK);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, aesKey, block),
  );

  const samples: Record<string, number[]> = {
    cobblestone_encrypt: [],
    bare_encrypt: [],
    ceiling_encrypt: [],
    cobblestone_decrypt: [],
    bare_decrypt: [],
    ceiling_decrypt: [],
  };
  for (let run = 0; run < runs; run++) {
    samples.cobblestone_encrypt.push(
      await timed(
        mib,
        () => drain(pieces(plaintext, total).pipeThrough(encryptStream(key, context))),
      ),
    );
    samples.bare_encrypt.push(await timed(mib, () => callLoop(aesKey, mib, block, false, 1)));
    samples.ceiling_encrypt.push(
      await timed(mib, () => callLoop(aesKey, mib, block, false, CEILING_IN_FLIGHT)),
    );
    samples.cobblestone_decrypt.push(
      await timed(mib, async () => {
        const bytes = await drain(
          pieces(ciphertext, ciphertext.length).pipeThrough(decryptStream(key, context)),
        );
        if (bytes !== total) throw new Error(`Cannot bench decrypt: got ${bytes} bytes`);
      }),
    );
    samples.bare_decrypt.push(await timed(mib, () => callLoop(aesKey, mib, sealed, true, 1)));
    samples.ceiling_decrypt.push(
      await timed(mib, () => callLoop(aesKey, mib, sealed, true, CEILING_IN_FLIGHT)),
    );
  }
  const result: Record<string, number> = {};
  for (const [name, values] of Object.entries(samples)) result[`${name}_mib_s`] = median(values);
  result.encrypt_speedup = result.cobblestone_encrypt_mib_s / result.bare_encrypt_mib_s;
  result.decrypt_speedup = result.cobblestone_decrypt_mib_s / result.bare_decrypt_mib_s;
  return result;
}

if (import.meta.main) {
  const mib = Number(Deno.args[0] ?? 256);
  const runs = Number(Deno.args[1] ?? 3);
  const result = await benchCrypto({ mib, runs });
  console.log(`Cobblestone-256, ${mib} MiB in-memory stream, median of ${runs} runs`);
  console.table({
    encrypt: {
      "cobblestone MiB/s": Math.round(result.cobblestone_encrypt_mib_s),
      "bare loop MiB/s": Math.round(result.bare_encrypt_mib_s),
      speedup: Number(result.encrypt_speedup.toFixed(2)),
      "16 in flight MiB/s": Math.round(result.ceiling_encrypt_mib_s),
    },
    decrypt: {
      "cobblestone MiB/s": Math.round(result.cobblestone_decrypt_mib_s),
      "bare loop MiB/s": Math.round(result.bare_decrypt_mib_s),
      speedup: Number(result.decrypt_speedup.toFixed(2)),
      "16 in flight MiB/s": Math.round(result.ceiling_decrypt_mib_s),
    },
  });
}
