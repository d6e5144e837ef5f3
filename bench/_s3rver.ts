/**
 * Private to bench/: s3rver (npm), an S3 emulator that keeps objects as
 * files, in a subprocess of its own. It runs through Deno from its own temp
 * dir with `--no-config --no-lock`, so the repository's lock file and
 * node_modules stay as they are; the first run fetches the package from the
 * npm registry. It checks signatures against its default credentials
 * (`S3RVER` / `S3RVER`).
 *
 * @module
 */
import { join } from "node:path";
import {
  cleanEnv,
  Output,
  type S3Endpoint,
  stopChild,
  tracked,
  withTimeout,
} from "./_processes.ts";

/** The package and version run. */
export const S3RVER_PACKAGE = "npm:s3rver@3.7.1";
/** s3rver's default credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
/** First start: the package may need fetching. */
const START_TIMEOUT_MS = 180_000;

/** A running s3rver with one bucket. */
export interface S3rverProcess extends S3Endpoint, AsyncDisposable {
  pid: number;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Starts s3rver on a free loopback port with one empty bucket; disposing it
 * stops the process and deletes its files.
 *
 * @throws {Error} with the process's last output lines when it cannot start.
 */
export async function startS3rverProcess(bucket = "coffer-bench"): Promise<S3rverProcess> {
  const dir = await Deno.makeTempDir({ prefix: "coffer-bench-s3rver-" });
  await Deno.mkdir(join(dir, "data"));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-lock",
      "-A",
      S3RVER_PACKAGE,
      ...["--directory", "data", "--address", "127.0.0.1", "--port", "0", "--silent"],
      ...["--configure-bucket", bucket],
    ],
    cwd: dir,
    env: { ...cleanEnv(), NO_COLOR: "1", RUST_BACKTRACE: "0" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  const stop = tracked(async () => {
    await stopChild(child);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  });
  try {
    const exited = child.status.then((status) => {
      throw new Error(`s3rver exited with code ${status.code}`);
    });
    exited.catch(() => {}); // only the race below cares
    const listening = out.waitFor((line) => /listening on/i.test(line));
    const line = await withTimeout(Promise.race([listening, exited]), START_TIMEOUT_MS, "s3rver");
    const port = Number(line.match(/:(\d+)\s*$/)?.[1]);
    if (!port) throw new Error(`Cannot read s3rver's port from: ${line}`);
    return {
      pid: child.pid,
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      ...S3RVER_CREDENTIALS,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${err.lines.slice(-10).join("\n")}`);
  }
}
