/**
 * Section 1, Cobblestone-256 in memory: `encryptStream` / `decryptStream`
 * through both engines (OpenSSL libcrypto through FFI, and WebCrypto), the
 * input arriving in pieces as real I/O delivers it (64 KiB like a file or an
 * HTTP body, and 1 MiB), next to, in the same interleaved runs:
 *
 * - the hardware ceiling, `openssl speed -evp aes-256-gcm -bytes 16384`
 *   (bench/_openssl_speed.ts), the baseline of the OpenSSL engine;
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
import { type CryptoEngine, decryptStream, encryptStream, webCryptoEngine } from "../crypto/mod.ts";
import { selectCryptoEngine, type SelectedEngine } from "../crypto_engine.ts";
import { silentLogger } from "../log.ts";
import { measureOpenSslSpeed, OPENSSL_SPEED_COMMAND } from "./_openssl_speed.ts";
import {
  type Check,
  num,
  renderMarkdown,
  type Row,
  type SectionResult,
  sizeLabel,
  times,
} from "./_report.ts";
import { MIB, mibPerSecond, Samples, timed } from "./_stats.ts";

/** Options of {@linkcode benchCrypto}. */
export interface BenchCryptoOptions {
  /** Plaintext size in MiB (default 256). */
  mib?: number;
  /** Runs per measurement; the median is reported (default 3). */
  runs?: number;
  /** Seconds of each `openssl speed` run (default 3). */
  speedSeconds?: number;
}

type Way = "encrypt" | "decrypt";
const WAYS: Way[] = ["encrypt", "decrypt"];
const CHUNK = 16384;
/** How the input arrives: like a file or an HTTP body, and in big reads. */
const PIECES = [{ name: "64k", label: "64 KiB", size: 64 * 1024 }, {
  name: "1m",
  label: "1 MiB",
  size: MIB,
}];
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
  const samples = new Samples();
  let speedMissing: string | undefined;
  const time = async (name: string, work: () => Promise<unknown>) =>
    samples.add(name, mibPerSecond(message.total, (await timed(work)).ms));

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
  return report({ mib, runs, speedSeconds, samples, opensslMissing: openssl.reason, speedMissing });
}

interface Measured {
  mib: number;
  runs: number;
  speedSeconds: number;
  samples: Samples;
  /** Why the OpenSSL engine could not be loaded. */
  opensslMissing?: string;
  /** Why `openssl speed` could not be run. */
  speedMissing?: string;
}

function report(measured: Measured): SectionResult {
  const { mib, samples, opensslMissing, speedMissing } = measured;
  const m = (name: string) => samples.median(name);
  const speed = m("openssl_speed");
  const speedText = speedMissing
    ? `\`openssl speed\` skipped: ${speedMissing}`
    : `\`openssl speed\` ${num(speed)} MiB/s (wall clock ${num(m("openssl_speed_wall"))})`;
  const label = (way: Way, piece: (typeof PIECES)[number], engine: string) =>
    `${way} ${sizeLabel(mib)} stream, ${piece.label} pieces, ${engine} engine, MiB/s`;
  const rows: Row[] = [{
    measure: `\`${OPENSSL_SPEED_COMMAND}\` (one core, CPU time), MiB/s`,
    coffer: speedMissing ? "n/a" : num(speed),
    baseline: speedMissing
      ? `skipped: ${speedMissing}`
      : `wall clock over the same runs: ${num(m("openssl_speed_wall"))} MiB/s`,
    ratio: "",
  }];
  for (const way of WAYS) {
    for (const piece of PIECES) {
      const series = `openssl_${way}_${piece.name}`;
      rows.push({
        measure: label(way, piece, "OpenSSL"),
        coffer: opensslMissing ? "n/a" : num(m(series)),
        baseline: opensslMissing ? `OpenSSL engine unavailable: ${opensslMissing}` : speedText,
        ratio: times(m(series) / speed),
      });
    }
  }
  for (const way of WAYS) {
    for (const piece of PIECES) {
      const series = `webcrypto_${way}_${piece.name}`;
      rows.push({
        measure: label(way, piece, "WebCrypto"),
        coffer: num(m(series)),
        baseline: `bare one-call loop ${num(m(`bare_${way}`))} MiB/s (16 calls in flight, ` +
          `no stream: ${num(m(`ceiling_${way}`))}); ${times(m(series) / speed)} openssl speed`,
        ratio: times(m(series) / m(`bare_${way}`)),
      });
    }
  }
  const checks: Check[] = WAYS.map((way) => {
    const ratio = m(`openssl_${way}_64k`) / speed;
    return {
      target: `OpenSSL engine ${way} (64 KiB pieces) ≥ 0.6× \`openssl speed\``,
      measured: opensslMissing
        ? `engine unavailable: ${opensslMissing}`
        : speedMissing
        ? `\`openssl speed\` skipped: ${speedMissing}`
        : `${times(ratio)} (${num(m(`openssl_${way}_64k`))} vs ${num(speed)} MiB/s); ` +
          `WebCrypto engine ${times(m(`webcrypto_${way}_64k`) / speed)}`,
      met: ratio >= 0.6,
    };
  });
  for (const way of WAYS) {
    const mibS = m(`webcrypto_${way}_64k`);
    const speedup = mibS / m(`bare_${way}`);
    checks.push({
      target: `WebCrypto engine ${way} ≥ 500 MiB/s and ≥ 2× bare loop`,
      measured: `${num(mibS)} MiB/s, ${times(speedup)}`,
      met: mibS >= 500 && speedup >= 2,
    });
  }
  return {
    title: "1. Crypto (in memory)",
    rows,
    checks,
    data: {
      mib,
      runs: measured.runs,
      openssl_speed_seconds: measured.speedSeconds,
      unit: "MiB/s",
      openssl_engine: opensslMissing ? `unavailable: ${opensslMissing}` : "loaded",
      openssl_speed: speedMissing ? `skipped: ${speedMissing}` : "measured",
      samples: samples.toJSON(),
    },
  };
}

if (import.meta.main) {
  const mib = Number(Deno.args[0] ?? 256);
  const runs = Number(Deno.args[1] ?? 3);
  console.log(renderMarkdown([await benchCrypto({ mib, runs })]));
}
