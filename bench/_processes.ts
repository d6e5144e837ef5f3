/**
 * Private to bench/: the processes a benchmark talks to. The Coffer server
 * runs as `deno run -A main.ts` in a subprocess configured through its
 * environment (real Redis under a unique prefix, a temp data dir, the local
 * store or S3), exactly as an operator starts it, so its peak RSS can be read
 * from /proc and its CPU is not shared with the client's event loop. fauxqs
 * runs in a subprocess of its own (bench/_fauxqs_process.ts).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { flushPrefix, randomKeyBase64, TEST_REDIS_URL } from "../tests/helpers.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

/** Cleanups of every subprocess still running, for {@linkcode stopAllProcesses}. */
const running = new Set<() => Promise<void>>();

/**
 * Stops every subprocess this module started and is still running (on
 * SIGINT/SIGTERM of the benchmark, so none is left behind).
 */
export async function stopAllProcesses(): Promise<void> {
  await Promise.allSettled([...running].map((cleanup) => cleanup()));
}

/**
 * Registers `cleanup` with {@linkcode stopAllProcesses} until it has run
 * once; returns the run-once version to call (or defer) normally.
 */
export function tracked(cleanup: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = () => {
    done ??= cleanup().finally(() => running.delete(once));
    return done;
  };
  running.add(once);
  return once;
}

/** Where an S3 server listens. */
export interface S3Endpoint {
  endpoint: string;
  bucket: string;
  /** Credentials the server checks (fauxqs checks none; default "bench"). */
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** A subprocess with its output drained into a short tail. */
export class Output {
  readonly lines: string[] = [];
  readonly #waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#drain(stream);
  }

  /** Resolves with the first line (seen so far or later) that matches. */
  waitFor(match: (line: string) => boolean): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  async #drain(stream: ReadableStream<Uint8Array>) {
    let rest = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + text).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) this.#push(line);
      }
    } catch {
      // The process went away; what was read is kept.
    }
    if (rest) this.#push(rest);
  }

  #push(line: string) {
    this.lines.push(line);
    if (this.lines.length > 200) this.lines.shift();
    for (const waiter of [...this.#waiters]) {
      if (waiter.match(line)) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  }
}

/** `promise`, or an error saying `what` could not start within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Cannot start ${what}: no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited in time. */
export async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    return; // already exited
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), STOP_TIMEOUT_MS);
  });
  const outcome = await Promise.race([child.status, late]);
  clearTimeout(timer);
  if (outcome === "late") {
    child.kill("SIGKILL");
    await child.status;
  }
}

/** Environment without any Coffer, S3 or AWS setting of the caller. */
export function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !/^(COFFER_|S3_|AWS_)/.test(name)),
  );
}

/** A running fauxqs subprocess. */
export interface FauxqsProcess extends S3Endpoint, AsyncDisposable {
  pid: number;
}

/** Starts fauxqs in a subprocess with one empty bucket. */
export async function startFauxqsProcess(bucket = "coffer-bench"): Promise<FauxqsProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "bench/_fauxqs_process.ts", bucket],
    cwd: REPO,
    env: { ...cleanEnv(), NO_COLOR: "1" },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  const stop = tracked(async () => {
    await stdin.close().catch(() => {});
    await stopChild(child);
  });
  try {
    const line = await withTimeout(out.waitFor((l) => l.startsWith('{"port"')), 30_000, "fauxqs");
    const { port } = JSON.parse(line);
    return {
      pid: child.pid,
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${err.lines.slice(-10).join("\n")}`);
  }
}

/** Options of {@linkcode startServer}. */
export interface ServerOptions {
  /** Store objects in this S3 bucket; the local store when absent. */
  s3?: S3Endpoint;
  /** Write a V8 CPU profile of the server into this directory (`--cpu-prof`). */
  profileDir?: string;
  /** `COFFER_CRYPTO_ENGINE` (default: unset, which is `auto`). */
  engine?: "auto" | "openssl" | "webcrypto";
}

/** A running Coffer server subprocess. */
export interface ServerProcess extends AsyncDisposable {
  url: string;
  pid: number;
  dataDir: string;
  /** The AES-GCM engine the server logged at start-up (`crypto.engine`). */
  engine: string;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRss(): Promise<number>;
  /** Current resident set size (VmRSS), in bytes. */
  rss(): Promise<number>;
}

async function procStatus(pid: number, field: string): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  if (!match) throw new Error(`Cannot read ${field} of process ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * Starts `deno run -A main.ts` (API and worker in one process) on a free
 * loopback port with real Redis under a unique prefix and a temp data dir.
 * Disposing stops it (SIGTERM, as an operator would), deletes its Redis keys
 * and its data dir.
 */
export async function startServer(options: ServerOptions = {}): Promise<ServerProcess> {
  const dataDir = await Deno.makeTempDir({ prefix: "coffer-bench-" });
  const prefix = `coffer-bench-${crypto.randomUUID().slice(0, 12)}`;
  const env: Record<string, string> = {
    ...cleanEnv(),
    NO_COLOR: "1",
    RUST_BACKTRACE: "0",
    HOST: "127.0.0.1",
    PORT: "0",
    COFFER_DATA_DIR: dataDir,
    REDIS_URL: TEST_REDIS_URL,
    COFFER_REDIS_PREFIX: prefix,
    COFFER_MASTER_KEYS: `k1:${randomKeyBase64()}`,
    COFFER_JWT_SECRET: randomKeyBase64(),
  };
  if (options.s3) {
    Object.assign(env, {
      S3_ENDPOINT: options.s3.endpoint,
      S3_BUCKET: options.s3.bucket,
      AWS_ACCESS_KEY_ID: options.s3.accessKeyId ?? "bench",
      AWS_SECRET_ACCESS_KEY: options.s3.secretAccessKey ?? "bench",
    });
  }
  if (options.engine) env.COFFER_CRYPTO_ENGINE = options.engine;
  const profile = options.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`] : [];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...profile, "main.ts"],
    cwd: REPO,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  const cleanup = tracked(async () => {
    await stopChild(child);
    await flushPrefix(prefix).catch(() => {});
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  });
  try {
    const started = out.waitFor((line) => line.includes('"process.started"'));
    const exited = child.status.then((status) => {
      throw new Error(`the server exited with code ${status.code}`);
    });
    exited.catch(() => {}); // only the race below cares
    await withTimeout(Promise.race([started, exited]), START_TIMEOUT_MS, "the server");
    const listening = JSON.parse(await out.waitFor((line) => line.includes('"api.listening"')));
    const engine = JSON.parse(await out.waitFor((line) => line.includes('"crypto.engine"')));
    return {
      url: listening.url,
      pid: child.pid,
      dataDir,
      engine: engine.engine,
      peakRss: () => procStatus(child.pid, "VmHWM"),
      rss: () => procStatus(child.pid, "VmRSS"),
      [Symbol.asyncDispose]: cleanup,
    };
  } catch (error) {
    await cleanup();
    const tail = [...out.lines.slice(-5), ...err.lines.slice(-10)].join("\n");
    throw new Error(`Cannot start the server: ${(error as Error).message}\n${tail}`);
  }
}
