/**
 * Section 1, Cobblestone-256 in memory: `encryptStream` / `decryptStream`
 * through both engines (OpenSSL libcrypto through FFI, and WebCrypto), the
 * input arriving in pieces as real I/O delivers it (64 KiB like a file or an
 * HTTP body, and 1 MiB), next to, in the same interleaved runs:
 *
 * - the hardware ceiling, `openssl speed -evp aes-256-gcm -bytes 16384`
 *   (bench/_openssl_speed.ts), the baseline of the OpenSSL engine;
 * - the OpenSSL engine alone: `sealChunks` / `openChunks` on 1 MiB batches
 *   with no stream around them (where a stream loses against the engine);
 * - two loops of WebCrypto AES-256-GCM calls on 16 KiB buffers: one call at a
 *   time (the WebCrypto target's baseline), and 16 kept in flight with no
 *   stream around them (what WebCrypto itself can do here).
 *
 * One untimed pass through each engine comes first; then every run times
 * each measurement once, the engines' order alternating from run to run.
 *
 *     deno run -A bench/crypto_bench.ts [mib] [runs]
 *
 * @module
 */
import {
  type AeadKey,
  type CryptoEngine,
  decryptStream,
  encryptStream,
  webCryptoEngine,
} from "../crypto/mod.ts";
import { selectCryptoEngine, type SelectedEngine } from "../crypto_engine.ts";
import { silentLogger } from "../log.ts";
import { cryptoReport, PIECES, type Way, WAYS } from "./_crypto_report.ts";
import { measureOpenSslSpeed } from "./_openssl_speed.ts";
import { renderMarkdown, type SectionResult } from "./_report.ts";
import { cpuSeconds, MIB, mibPerSecond, Samples, timed } from "./_stats.ts";

/** Options of {@linkcode benchCrypto}. */
export interface BenchCryptoOptions {
  /** Plaintext size in MiB (default 256). */
  mib?: number;
  /** Runs per measurement; the median is reported (default 3). */
  runs?: number;
  /** Seconds of each `openssl speed` run (default 3). */
  speedSeconds?: number;
}

const CHUNK = 16384;
/** Calls kept in flight by the ceiling loop (encryptStream's default). */
const CEILING_IN_FLIGHT = 16;

/** A stream of `total` bytes in `size`-byte subarrays of `data` (repeated as needed). */
function pieces(data: Uint8Array, total: number, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= total) return controller.close();
      const at = offset % data.length;
      const end = Math.min(at + Math.min(size, total - offset), data.length);
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

/** One message's key, context, plaintext block and full ciphertext. */
interface Message {
  key: Uint8Array;
  context: Uint8Array;
  /** 1 MiB, repeated to make the plaintext. */
  block: Uint8Array<ArrayBuffer>;
  total: number;
  ciphertext: Uint8Array;
}

async function makeMessage(mib: number, engine: CryptoEngine): Promise<Message> {
  const total = mib * MIB;
  const key = crypto.getRandomValues(new Uint8Array(32));
  const context = new TextEncoder().encode("bench");
  const block = randomBytes(MIB);
  const ciphertext = new Uint8Array(56 + total + 16 * (total / CHUNK + 1));
  let filled = 0;
  const encrypted = pieces(block, total, MIB).pipeThrough(encryptStream(key, context, { engine }));
  for await (const piece of encrypted) {
    ciphertext.set(piece, filled);
    filled += piece.length;
  }
  return { key, context, block, total, ciphertext };
}

/** Streams the message through `engine` one way, the input in `size`-byte pieces. */
async function streamOnce(message: Message, engine: CryptoEngine, way: Way, size: number) {
  const { key, context, block, total, ciphertext } = message;
  if (way === "encrypt") {
    return drain(pieces(block, total, size).pipeThrough(encryptStream(key, context, { engine })));
  }
  const stream = pieces(ciphertext, ciphertext.length, size);
  const bytes = await drain(stream.pipeThrough(decryptStream(key, context, { engine })));
  if (bytes !== total) throw new Error(`Cannot bench decrypt: got ${bytes} bytes`);
  return bytes;
}

/**
 * `mib` MiB of WebCrypto AES-256-GCM calls on `input` (16 KiB, or a sealed
 * 16 KiB chunk to decrypt), `inFlight` calls at a time.
 */
async function callLoop(
  key: CryptoKey,
  mib: number,
  input: Uint8Array<ArrayBuffer>,
  way: Way,
  inFlight: number,
): Promise<void> {
  const chunks = (mib * MIB) / CHUNK;
  let next = 0;
  const lane = async () => {
    while (next < chunks) {
      const iv = new Uint8Array(12);
      if (way === "encrypt") new DataView(iv.buffer).setUint32(8, next);
      next++;
      if (way === "decrypt") await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, input);
      else await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, input);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

/** The raw WebCrypto key and the 16 KiB inputs of the call loops. */
async function loopInputs(message: Message) {
  const aesKey = await crypto.subtle.importKey("raw", message.key.slice(), "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  const plain = message.block.slice(0, CHUNK);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, aesKey, plain),
  );
  return { aesKey, input: { encrypt: plain, decrypt: sealed } };
}

/**
 * The engine alone, no stream: the message's MiB as `sealChunks` (or
 * `openChunks`) calls on 1 MiB batches, one at a time — what the streams
 * could reach with this engine. `input` is the 1 MiB plaintext block, or
 * the one sealed batch to open again and again.
 */
async function engineLoop(key: AeadKey, total: number, way: Way, input: Uint8Array) {
  const baseNonce = new Uint8Array(12);
  for (let first = 0; first * CHUNK < total; first += MIB / CHUNK) {
    if (way === "encrypt") await key.sealChunks(baseNonce, first, input);
    else await key.openChunks(baseNonce, 0, input); // the one sealed batch, chunks 0–63
  }
}

/** The OpenSSL engine after its self-test, or why it cannot be used. */
async function loadOpenSsl(): Promise<{ selected?: SelectedEngine; reason?: string }> {
  try {
    return { selected: await selectCryptoEngine({ cryptoEngine: "openssl" }, silentLogger) };
  } catch (error) {
    return { reason: (error as Error).message };
  }
}

/**
 * Measures both engines, the WebCrypto loops and `openssl speed`.
 *
 * @param opts Size in MiB, number of runs, seconds per `openssl speed` run.
 * @returns Section 1 of the results table.
 * @example
 * ```ts
 * import { benchCrypto } from "./crypto_bench.ts";
 * const section = await benchCrypto({ mib: 64, runs: 3 });
 * ```
 */
export async function benchCrypto(opts: BenchCryptoOptions = {}): Promise<SectionResult> {
  const mib = opts.mib ?? 256;
  const runs = opts.runs ?? 3;
  const speedSeconds = opts.speedSeconds ?? 3;
  const openssl = await loadOpenSsl();
  using selected = openssl.selected;
  const engines: [string, CryptoEngine][] = [["webcrypto", webCryptoEngine]];
  if (selected) engines.unshift(["openssl", selected.engine]);
  const message = await makeMessage(mib, selected?.engine ?? webCryptoEngine);
  const { aesKey, input } = await loopInputs(message);
  const aeadKey = await selected?.engine.importKey(message.key);
  const sealedBatch = await aeadKey?.sealChunks(new Uint8Array(12), 0, message.block);
  const samples = new Samples();
  let speedMissing: string | undefined;
  const time = async (name: string, work: () => Promise<unknown>) => {
    const cpu = cpuSeconds();
    samples.add(name, mibPerSecond(message.total, (await timed(work)).ms));
    samples.add(`${name}_cpu`, message.total / MIB / (cpuSeconds() - cpu));
  };

  // One untimed pass first, so neither engine's first timed run pays for JIT warm-up.
  for (const way of WAYS) {
    for (const [, engine] of engines) await streamOnce(message, engine, way, PIECES[0].size);
  }
  for (let run = 0; run < runs; run++) {
    for (const way of WAYS) {
      for (const piece of PIECES) {
        for (const [name, engine] of run % 2 ? [...engines].reverse() : engines) {
          await time(
            `${name}_${way}_${piece.name}`,
            () => streamOnce(message, engine, way, piece.size),
          );
        }
      }
      if (aeadKey) {
        const batch = way === "encrypt" ? message.block : sealedBatch!;
        await time(`openssl_${way}_engine`, () => engineLoop(aeadKey, message.total, way, batch));
      }
      await time(`bare_${way}`, () => callLoop(aesKey, mib, input[way], way, 1));
      await time(`ceiling_${way}`, () => callLoop(aesKey, mib, input[way], way, CEILING_IN_FLIGHT));
    }
    const speed = await measureOpenSslSpeed(speedSeconds);
    if (typeof speed === "string") speedMissing = speed;
    else {
      samples.add("openssl_speed", speed.mibPerSecond);
      samples.add("openssl_speed_wall", speed.wallMibPerSecond);
    }
  }
  return cryptoReport({
    mib,
    runs,
    speedSeconds,
    samples,
    opensslMissing: openssl.reason,
    speedMissing,
  });
}

if (import.meta.main) {
  const mib = Number(Deno.args[0] ?? 256);
  const runs = Number(Deno.args[1] ?? 3);
  console.log(renderMarkdown([await benchCrypto({ mib, runs })]));
}
