/**
 * Section 8, offline `cli decrypt` measured as a whole process, file to
 * file: one ciphertext and its key export (the JSON `GET /api/files/:id/key`
 * returns) are made once, then `deno run <the deno.json "cli" task's flags>
 * cli/main.ts decrypt FILE.cbl --key KEY.json -o OUT --force` is timed from
 * spawn to exit with `COFFER_CRYPTO_ENGINE=openssl` and with `webcrypto`,
 * interleaved with `openssl speed` runs (the baseline) and with
 * `cli decrypt --help` (the process start-up inside those times). One
 * untimed run first warms Deno's module cache and checks the output's size
 * and SHA-256.
 *
 *     deno run -A bench/cli_decrypt_bench.ts [mib] [runs]
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createKeyExport, encryptStream, webCryptoEngine } from "../crypto/mod.ts";
import { loadOpenSslEngine } from "../crypto/openssl_engine.ts";
import { randomStream } from "./_data.ts";
import { measureOpenSslSpeed, OPENSSL_SPEED_COMMAND } from "./_openssl_speed.ts";
import { cleanEnv, tracked } from "./_processes.ts";
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

/** Options of {@linkcode benchCliDecrypt}. */
export interface CliDecryptOptions {
  /** Plaintext size in MiB (256 in the full run). */
  mib: number;
  runs: number;
  /** Seconds of each `openssl speed` run. */
  speedSeconds: number;
}

const REPO = fileURLToPath(new URL("..", import.meta.url));
const ENGINES = ["openssl", "webcrypto"] as const;
type Engine = typeof ENGINES[number];

/**
 * The `deno run` arguments of the deno.json `cli` task, read from deno.json
 * so the benchmark runs the command exactly as users do.
 */
async function cliTaskArgs(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
  const words = String(config.tasks?.cli ?? "").trim().split(/\s+/);
  if (words[0] !== "deno" || words.at(-1) !== "cli/main.ts") {
    throw new Error(`Cannot bench cli decrypt: unexpected "cli" task: ${words.join(" ")}`);
  }
  return words.slice(1);
}

/** The test file: ciphertext, key export and the plaintext's size and SHA-256. */
interface Prepared {
  input: string;
  keyFile: string;
  size: number;
  sha256: string;
}

async function prepare(dir: string, mib: number): Promise<Prepared> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const context = new TextEncoder().encode("coffer/v1\0bench-owner\0bench-file");
  const input = join(dir, "bench.bin.cbl");
  const keyFile = join(dir, "bench.key.json");
  await Deno.writeTextFile(keyFile, JSON.stringify(createKeyExport(key, context)));
  const hash = createHash("sha256");
  let size = 0;
  const hashing = new TransformStream<Uint8Array, Uint8Array>({
    transform(piece, controller) {
      hash.update(piece);
      size += piece.length;
      controller.enqueue(piece);
    },
  });
  let engine;
  try {
    engine = loadOpenSslEngine();
  } catch {
    engine = undefined; // WebCrypto makes the same ciphertext, only slower
  }
  try {
    using file = await Deno.open(input, { write: true, createNew: true });
    await randomStream(mib * MIB).pipeThrough(hashing)
      .pipeThrough(encryptStream(key, context, { engine: engine ?? webCryptoEngine }))
      .pipeTo(file.writable);
  } finally {
    engine?.[Symbol.dispose]();
  }
  return { input, keyFile, size, sha256: hash.digest("hex") };
}

/** Runs the CLI once with `command` (e.g. `decrypt FILE …`); returns its wall time. */
async function runCli(
  args: string[],
  command: string[],
  engine: Engine,
  configDir: string,
): Promise<number> {
  const cli = new Deno.Command(Deno.execPath(), {
    args: [...args, ...command],
    cwd: REPO,
    env: {
      ...cleanEnv(),
      NO_COLOR: "1",
      RUST_BACKTRACE: "0",
      COFFER_CONFIG_DIR: configDir,
      COFFER_CRYPTO_ENGINE: engine,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const { ms, value } = await timed(() => cli.output());
  if (!value.success) {
    const stderr = new TextDecoder().decode(value.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(
      `Cannot bench cli ${command[0]} (${engine}): exit code ${value.code}\n${stderr}`,
    );
  }
  return ms;
}

const decryptArgs = (
  prepared: Prepared,
  output: string,
) => ["decrypt", prepared.input, "--key", prepared.keyFile, "-o", output, "--force"];

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const piece of file.readable) hash.update(piece);
  return hash.digest("hex");
}

/**
 * Measures `cli decrypt` with both engines.
 *
 * @returns Section 8 of the results table.
 */
export async function benchCliDecrypt(options: CliDecryptOptions): Promise<SectionResult> {
  const { mib, runs, speedSeconds } = options;
  const dir = await Deno.makeTempDir({ prefix: "coffer-bench-cli-" });
  const cleanup = tracked(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
  try {
    const args = await cliTaskArgs();
    const prepared = await prepare(dir, mib);
    const output = join(dir, "bench.bin");
    const configDir = join(dir, "config");
    await Deno.mkdir(configDir);
    await runCli(args, decryptArgs(prepared, output), "openssl", configDir);
    const { size } = await Deno.stat(output);
    const sha256 = await sha256File(output);
    if (size !== prepared.size || sha256 !== prepared.sha256) {
      throw new Error(`Cannot bench cli decrypt: the output differs (${size} bytes, ${sha256})`);
    }
    const samples = new Samples();
    let speedMissing: string | undefined;
    for (let run = 0; run < runs; run++) {
      for (const engine of run % 2 ? [...ENGINES].reverse() : ENGINES) {
        const ms = await runCli(args, decryptArgs(prepared, output), engine, configDir);
        samples.add(`cli_${engine}_mib_s`, mibPerSecond(prepared.size, ms));
      }
      // The fixed cost inside those figures: start Deno, load the command, exit.
      samples.add("startup_ms", await runCli(args, ["decrypt", "--help"], "openssl", configDir));
      const speed = await measureOpenSslSpeed(speedSeconds);
      if (typeof speed === "string") speedMissing = speed;
      else samples.add("openssl_speed_mib_s", speed.mibPerSecond);
    }
    return report(mib, runs, samples, {
      verified: `${size} bytes, sha256 ${sha256}`,
      speedMissing,
    });
  } finally {
    await cleanup();
  }
}

function report(
  mib: number,
  runs: number,
  samples: Samples,
  notes: { verified: string; speedMissing?: string },
): SectionResult {
  const m = (name: string) => samples.median(name);
  const speed = m("openssl_speed_mib_s");
  const baseline = notes.speedMissing
    ? `\`openssl speed\` skipped: ${notes.speedMissing}`
    : `\`${OPENSSL_SPEED_COMMAND}\` ${num(speed)} MiB/s`;
  const label = { openssl: "OpenSSL", webcrypto: "WebCrypto" } as const;
  const rows: Row[] = ENGINES.map((engine) => ({
    measure: `\`cli decrypt\` ${sizeLabel(mib)}, whole process, file to file, ` +
      `${label[engine]} engine, MiB/s`,
    coffer: num(m(`cli_${engine}_mib_s`)),
    baseline,
    ratio: times(m(`cli_${engine}_mib_s`) / speed),
  }));
  rows.push({
    measure: "start-up inside those figures: `cli decrypt --help`, whole process, ms",
    coffer: num(m("startup_ms")),
    baseline: "",
    ratio: "",
  });
  const ratio = m("cli_openssl_mib_s") / speed;
  const check: Check = {
    target: "Offline `cli decrypt` ≥ 0.2× `openssl speed`, OpenSSL engine",
    measured: notes.speedMissing
      ? `\`openssl speed\` skipped: ${notes.speedMissing}`
      : `${times(ratio)} (${num(m("cli_openssl_mib_s"))} vs ${num(speed)} MiB/s); ` +
        `WebCrypto engine ${times(m("cli_webcrypto_mib_s") / speed)}`,
    met: ratio >= 0.2,
  };
  return {
    title: "8. Offline CLI decrypt",
    rows,
    checks: [check],
    data: { mib, runs, unit: "MiB/s", output_verified: notes.verified, samples: samples.toJSON() },
  };
}

if (import.meta.main) {
  const mib = Number(Deno.args[0] ?? 256);
  const runs = Number(Deno.args[1] ?? 3);
  console.log(renderMarkdown([await benchCliDecrypt({ mib, runs, speedSeconds: 3 })]));
}
