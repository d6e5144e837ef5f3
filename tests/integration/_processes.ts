/**
 * Private helpers of the crash tests: Coffer API and worker roles as real
 * `deno run -A main.ts <role>` subprocesses, configured through the
 * environment like production and sharing a test server's Redis prefix, data
 * directory, keys and object store, so a test can SIGKILL one mid-step.
 */
import type { Config } from "../../config.ts";
import { freePort } from "../helpers.ts";
import type { TestServer } from "../test_server.ts";
import { eventually } from "./_pipeline.ts";

const REPO_ROOT = new URL("../../", import.meta.url);

/** A JWT secret both the test server and its subprocesses can be given (an env value is text). */
export const PROCESS_JWT_SECRET = "crash-test-jwt-secret-of-at-least-32-bytes";

/** Config for a test server whose subprocesses must accept its tokens. */
export const PROCESS_CONFIG: Partial<Config> = {
  jwtSecret: new TextEncoder().encode(PROCESS_JWT_SECRET),
};

/** A Coffer subprocess; disposing kills it (if alive) and waits for it. */
export interface CofferProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** `http://127.0.0.1:PORT` of an API process. */
  url: string;
  /** Resolves with everything it printed once it has exited. */
  output: Promise<string>;
  /** Kills it with SIGKILL and waits for it to be gone. */
  kill(): Promise<Deno.CommandStatus>;
}

function environment(server: TestServer, overrides: Record<string, string>) {
  const { config } = server;
  const key = config.masterKeys![0];
  const env: Record<string, string> = {
    RUST_BACKTRACE: "0",
    NO_COLOR: "1",
    REDIS_URL: server.services.redisUrl,
    COFFER_REDIS_PREFIX: config.redisPrefix,
    COFFER_DATA_DIR: config.dataDir,
    COFFER_MASTER_KEYS: `${key.kid}:${btoa(String.fromCharCode(...key.key))}`,
    COFFER_JWT_SECRET: PROCESS_JWT_SECRET,
    COFFER_WORKER_CONCURRENCY: "1",
    COFFER_MAX_FILE_BYTES: String(config.maxFileBytes),
    COFFER_QUOTA_BYTES: String(config.quotaBytes),
  };
  if (config.s3) {
    Object.assign(env, {
      S3_ENDPOINT: config.s3.endpoint!,
      S3_BUCKET: config.s3.bucket,
      S3_REGION: config.s3.region,
      AWS_ACCESS_KEY_ID: config.s3.accessKeyId!,
      AWS_SECRET_ACCESS_KEY: config.s3.secretAccessKey!,
    });
  }
  return { ...env, ...overrides };
}

/**
 * Starts `main.ts <role>` sharing `server`'s deployment; `env` overrides any variable.
 * An API process is waited for until `/healthz` answers.
 */
export async function spawnCoffer(
  role: "api" | "worker",
  server: TestServer,
  env: Record<string, string> = {},
): Promise<CofferProcess> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", role],
    cwd: REPO_ROOT,
    env: environment(server, { HOST: "127.0.0.1", PORT: String(port), ...env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output().then(({ stdout, stderr }) =>
    new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr)
  );
  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await output;
    return await child.status;
  };
  const url = `http://127.0.0.1:${port}`;
  if (role === "api") {
    try {
      await eventually(
        "the API process to listen",
        async () => {
          const answer = await fetch(`${url}/healthz`).catch(() => undefined);
          await answer?.body?.cancel();
          return answer?.status === 200;
        },
        30_000,
        100,
      );
    } catch (error) {
      await kill();
      throw new Error(`${error}\nAPI output:\n${await output}`);
    }
  }
  return { child, url, output, kill, [Symbol.asyncDispose]: async () => void await kill() };
}
