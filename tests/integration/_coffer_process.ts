/**
 * Coffer as separate OS processes for the scale-out and restart tests: each
 * started with the exact command of its `deno.json` task (`api`, `worker`,
 * `start`), its JSON log lines collected as they arrive, stopped with
 * SIGTERM (or killed).
 */
import assert from "node:assert/strict";
import { randomKeyBase64, TEST_REDIS_URL } from "../helpers.ts";

const ROOT = new URL("../../", import.meta.url);
const START_TIMEOUT_MS = 30_000;

/** The command of a deno.json task, run with this Deno binary as a direct child (so we own its pid). */
export function taskCommand(task: string): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))).tasks;
  const [program, ...args] = (tasks[task] as string).trim().split(/\s+/);
  assert.equal(program, "deno", `task ${task} runs deno`);
  return args;
}

/** A Coffer process whose JSON log lines are collected as they arrive. */
export class CofferProcess {
  readonly lines: Record<string, unknown>[] = [];
  readonly stderr: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #pumps: Promise<void>[];
  #exited = false;

  constructor(readonly name: string, args: string[], env: Record<string, string>) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child.status.then(() => this.#exited = true);
    this.#pumps = [
      readLines(this.#child.stdout, (line) => this.lines.push(JSON.parse(line))),
      readLines(this.#child.stderr, (line) => this.stderr.push(line)),
    ];
  }

  /** Events named `event` logged so far. */
  events(event: string): Record<string, unknown>[] {
    return this.lines.filter((line) => line.event === event);
  }

  /** Waits for the first `event` line. */
  async waitFor(event: string, timeoutMs = START_TIMEOUT_MS): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const [found] = this.events(event);
      if (found) return found;
      if (this.#exited) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`${this.name} did not log ${event}; stderr: ${this.stderr.join("\n")}`);
  }

  /** Kills the process at once (a crash), and waits for its output to end. */
  async kill(): Promise<void> {
    if (!this.#exited) this.#child.kill("SIGKILL");
    await this.#child.status;
    await Promise.all(this.#pumps);
  }

  /** SIGTERM, then SIGKILL if it has not exited within 15 s; waits for its output to end. */
  async stop(): Promise<void> {
    if (!this.#exited) this.#child.kill("SIGTERM");
    const timer = setTimeout(() => !this.#exited && this.#child.kill("SIGKILL"), 15_000);
    try {
      await this.#child.status;
      await Promise.all(this.#pumps);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + text).split("\n");
    rest = parts.pop()!;
    for (const line of parts) if (line.trim()) onLine(line);
  }
  if (rest.trim()) onLine(rest);
}

/**
 * The environment of a Coffer process for tests: one Redis prefix, data dir
 * and key set shared by every process started with it; the local object
 * store unless S3 settings are added.
 */
export function processEnv(
  dataDir: string,
  prefix: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "",
    NO_COLOR: "1",
    RUST_BACKTRACE: "0",
    HOST: "127.0.0.1",
    PORT: "0",
    COFFER_DATA_DIR: dataDir,
    REDIS_URL: TEST_REDIS_URL,
    COFFER_REDIS_PREFIX: prefix,
    COFFER_MASTER_KEYS: `k1:${randomKeyBase64()}`,
    COFFER_JWT_SECRET: randomKeyBase64(),
    ...extra,
  };
  for (const name of ["HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
