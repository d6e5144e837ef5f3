/**
 * Section 9, Coffer against rclone into the same S3 server (s3rver, which
 * keeps objects as files; bench/_s3rver.ts): a file's upload → stored time
 * through a Coffer server subprocess (`COFFER_CRYPTO_ENGINE=openssl`, and
 * `webcrypto` beside it), from the first byte of the POST, read from a file,
 * to the record's `stored_at`, vs `rclone copyto` of the same file to a crypt
 * remote over that s3rver (whole process). `rclone copyto` to the plain S3
 * remote shows what s3rver itself takes. Runs are interleaved; the first one
 * also reads every upload back and compares its SHA-256 with the source's.
 * Where rclone or s3rver cannot be had, the section is one row saying why.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type BenchUser, deleteFile, signUp, uploadRaw, waitStored } from "./_client.ts";
import { randomStream, writeFileDirect } from "./_data.ts";
import { cleanEnv, type ServerProcess, startServer, tracked } from "./_processes.ts";
import { type Check, num, type Row, type SectionResult, sizeLabel, times } from "./_report.ts";
import { type S3rverProcess, startS3rverProcess } from "./_s3rver.ts";
import { MIB, mibPerSecond, Samples, timed } from "./_stats.ts";

/** Options of {@linkcode benchRclone}. */
export interface RcloneOptions {
  /** File size in MiB. */
  mib: number;
  runs: number;
  profileDir?: string;
}

const TITLE = "9. Upload → stored vs rclone crypt (S3: s3rver)";
const ENGINES = ["openssl", "webcrypto"] as const;
type Engine = typeof ENGINES[number];
const ENGINE_LABEL = { openssl: "OpenSSL", webcrypto: "WebCrypto" } as const;

/** The one-row section of a skipped benchmark. */
function skipped(reason: string): SectionResult {
  return {
    title: TITLE,
    rows: [{
      measure: "upload → stored vs `rclone copyto` (crypt)",
      coffer: "skipped",
      baseline: reason,
      ratio: "",
    }],
    checks: [],
    data: { skipped: reason },
  };
}

/** Runs rclone with `args`; returns its stdout, or throws with its stderr. */
async function rclone(env: Record<string, string>, ...args: string[]): Promise<Uint8Array> {
  const output = await new Deno.Command("rclone", {
    args,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join("\n");
    throw new Error(`Cannot run rclone ${args[0]}: exit code ${output.code}\n${stderr}`);
  }
  return output.stdout;
}

/** The SHA-256 of `rclone cat TARGET`, streamed. */
async function rcloneCatSha256(env: Record<string, string>, target: string): Promise<string> {
  const child = new Deno.Command("rclone", {
    args: ["cat", target],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const sha256 = await streamSha256(child.stdout);
  const status = await child.status;
  if (!status.success) throw new Error(`Cannot run rclone cat: exit code ${status.code}`);
  return sha256;
}

/** `rclone version`'s first line, or why rclone cannot be run. */
async function rcloneVersion(): Promise<{ version?: string; missing?: string }> {
  try {
    const stdout = await rclone(cleanEnv(), "version");
    return { version: new TextDecoder().decode(stdout).split("\n")[0].trim() };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { missing: "rclone is not on the PATH (Debian: apt-get install rclone)" };
    }
    return { missing: (error as Error).message };
  }
}

/**
 * rclone's environment: remote `s3` on s3rver and remote `secret`, a crypt
 * remote over `s3:BUCKET/rclone-crypt`; no config file of the user's. The
 * caller's AWS_* settings are dropped (an AWS_CA_BUNDLE stops rclone's S3
 * backend from starting over plain HTTP).
 */
async function rcloneEnv(s3: S3rverProcess, dir: string): Promise<Record<string, string>> {
  const config = join(dir, "rclone.conf");
  await Deno.writeTextFile(config, "");
  const base = { ...cleanEnv(), RCLONE_CONFIG: config };
  const password = new TextDecoder().decode(await rclone(base, "obscure", "coffer-bench")).trim();
  return {
    ...base,
    RCLONE_CONFIG_S3_TYPE: "s3",
    RCLONE_CONFIG_S3_PROVIDER: "Other",
    RCLONE_CONFIG_S3_ENDPOINT: s3.endpoint,
    RCLONE_CONFIG_S3_REGION: "us-east-1",
    RCLONE_CONFIG_S3_ACCESS_KEY_ID: s3.accessKeyId,
    RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    RCLONE_CONFIG_SECRET_TYPE: "crypt",
    RCLONE_CONFIG_SECRET_REMOTE: `s3:${s3.bucket}/rclone-crypt`,
    RCLONE_CONFIG_SECRET_PASSWORD: password,
  };
}

/** What one run needs. */
interface Run {
  env: Record<string, string>;
  source: string;
  bytes: number;
  bucket: string;
  servers: { engine: Engine; child: ServerProcess; user: BenchUser }[];
  samples: Samples;
  index: number;
  /** Read everything back and compare with this SHA-256 (first run only). */
  verify?: string;
}

async function streamSha256(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const piece of stream) hash.update(piece);
  return hash.digest("hex");
}

function expectSha256(what: string, got: string, want: string): void {
  if (got !== want) throw new Error(`Cannot bench rclone: ${what} reads back differently`);
}

/** `rclone copyto` of the source to `remote:path`, timed; verified and deleted. */
async function rcloneCopy(run: Run, remote: "secret" | "s3", series: string): Promise<void> {
  const path = remote === "secret"
    ? `bench/run-${run.index}`
    : `${run.bucket}/plain/run-${run.index}`;
  const target = `${remote}:${path}`;
  const { ms } = await timed(() => rclone(run.env, "copyto", run.source, target));
  run.samples.add(series, mibPerSecond(run.bytes, ms));
  if (run.verify) expectSha256(target, await rcloneCatSha256(run.env, target), run.verify);
  await rclone(run.env, "deletefile", target);
}

/** One Coffer upload from the source file, timed from the POST to `stored_at`. */
async function cofferUpload(run: Run, server: Run["servers"][number]): Promise<void> {
  const { url } = server.child;
  const started = Date.now();
  const posted = await (async () => {
    using file = await Deno.open(run.source, { read: true });
    return await uploadRaw(url, server.user, file.readable, run.bytes);
  })();
  const stored = await waitStored(url, server.user, posted.record.id, 120_000 + run.bytes / 1000);
  const ms = Date.parse(stored.stored_at ?? "") - started;
  run.samples.add(`coffer_${server.engine}_mib_s`, mibPerSecond(run.bytes, ms));
  if (run.verify) {
    const response = await fetch(`${url}/api/files/${stored.id}/content`, {
      headers: server.user.headers,
    });
    expectSha256(`Coffer (${server.engine})`, await streamSha256(response.body!), run.verify);
  }
  await deleteFile(url, server.user, stored.id);
}

/**
 * Runs the comparison, or reports why it was skipped.
 *
 * @returns Section 9 of the results table.
 */
export async function benchRclone(options: RcloneOptions): Promise<SectionResult> {
  const { mib, runs } = options;
  const { version, missing } = await rcloneVersion();
  if (missing) return skipped(missing);
  await using stack = new AsyncDisposableStack();
  let s3: S3rverProcess;
  try {
    s3 = stack.use(await startS3rverProcess());
  } catch (error) {
    return skipped(`s3rver could not be started: ${(error as Error).message.split("\n")[0]}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "coffer-bench-rclone-" });
  stack.defer(tracked(() => Deno.remove(dir, { recursive: true }).catch(() => {})));
  const source = join(dir, "source.bin");
  const bytes = mib * MIB;
  await writeFileDirect(source, randomStream(bytes));
  const sha256 = await streamSha256((await Deno.open(source)).readable);
  const env = await rcloneEnv(s3, dir);
  const servers = await Promise.all(ENGINES.map(async (engine) => {
    const child = stack.use(await startServer({ s3, engine, profileDir: options.profileDir }));
    if (child.engine !== engine) {
      throw new Error(`Cannot bench rclone: server uses ${child.engine}`);
    }
    return { engine, child, user: await signUp(child.url) };
  }));
  const samples = new Samples();
  for (let index = 0; index < runs; index++) {
    const run: Run = { env, source, bytes, bucket: s3.bucket, servers, samples, index };
    if (index === 0) run.verify = sha256;
    const order = index % 2 ? [...servers].reverse() : servers;
    await rcloneCopy(run, "secret", "rclone_crypt_mib_s");
    for (const server of order) await cofferUpload(run, server);
    await rcloneCopy(run, "s3", "rclone_plain_mib_s");
  }
  return report(mib, runs, samples, version!);
}

function report(mib: number, runs: number, samples: Samples, version: string): SectionResult {
  const m = (name: string) => samples.median(name);
  const crypt = m("rclone_crypt_mib_s");
  const rows: Row[] = ENGINES.map((engine) => ({
    measure: `upload → stored ${sizeLabel(mib)} from a file, ${ENGINE_LABEL[engine]} engine, MiB/s`,
    coffer: num(m(`coffer_${engine}_mib_s`)),
    baseline: `\`rclone copyto\` to a crypt remote ${num(crypt)} MiB/s ` +
      `(no crypt: ${num(m("rclone_plain_mib_s"))}; ${version})`,
    ratio: times(m(`coffer_${engine}_mib_s`) / crypt),
  }));
  const ratio = (engine: Engine) => m(`coffer_${engine}_mib_s`) / crypt;
  const check: Check = {
    target: "Upload → stored into s3rver ≥ 1× `rclone copyto` (crypt), OpenSSL engine",
    measured: `${times(ratio("openssl"))} (${num(m("coffer_openssl_mib_s"))} vs ${num(crypt)} ` +
      `MiB/s); WebCrypto engine ${times(ratio("webcrypto"))}`,
    met: ratio("openssl") >= 1,
  };
  return {
    title: TITLE,
    rows,
    checks: [check],
    data: { mib, runs, unit: "MiB/s", rclone: version, samples: samples.toJSON() },
  };
}
