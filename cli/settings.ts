/**
 * The CLI's own settings — it is a client, so it does not use the server's
 * config.ts — and the sessions it keeps after `login`. This is the only CLI
 * module that reads the environment:
 *
 * | variable            | meaning                                                        |
 * | ------------------- | -------------------------------------------------------------- |
 * | `COFFER_URL`        | server when `--server` is not given (default http://127.0.0.1:8080) |
 * | `COFFER_CONFIG_DIR` | where credentials.json lives (tests); else the ones below        |
 * | `XDG_CONFIG_HOME`   | `$XDG_CONFIG_HOME/coffer`                                        |
 * | `HOME`              | `~/.config/coffer` (`USERPROFILE` on Windows)                    |
 * | `INIT_CWD`          | set by `deno task`: the caller's directory, where relative paths resolve |
 *
 * `credentials.json` (mode 0600, directory 0700) holds one session per server:
 *
 * ```json
 * {"servers":{"http://127.0.0.1:8080":{"username":"alice","access_token":"…",
 *   "expires_at":"2025-01-01T13:00:00.000Z","refresh_token":"crt_…",
 *   "refresh_expires_at":"2025-01-15T12:00:00.000Z"}}}
 * ```
 *
 * Renewals (cli/session_tokens.ts) take an exclusive lock on
 * `credentials.json.lock` beside it, so concurrent `coffer` processes never
 * spend one refresh token twice.
 *
 * @module
 */
import { join } from "node:path";
import type { EngineSettings } from "../crypto_engine.ts";
import { UsageError } from "./command.ts";
import { engineSettings } from "./engine.ts";

/** The server the CLI talks to when neither `--server` nor `COFFER_URL` is set. */
export const DEFAULT_SERVER = "http://127.0.0.1:8080";

/** Where the CLI finds its server and keeps its sessions. */
export interface CliSettings {
  /** `COFFER_URL` or {@linkcode DEFAULT_SERVER}, not yet validated. */
  server: string;
  /** The directory of credentials.json. */
  configDir: string;
  /** `COFFER_CRYPTO_ENGINE` and `COFFER_LIBCRYPTO`, for commands that decrypt locally. */
  engine: EngineSettings;
  /**
   * The directory the user ran the command in, when it is not the process's
   * (`deno task cli` runs in the repository; it passes the caller's as `INIT_CWD`).
   */
  callerDir?: string;
}

/** A signed-in session with one server. */
export interface Session {
  username: string;
  access_token: string;
  /** ISO 8601. */
  expires_at: string;
  /** Renews the access token (absent for sessions saved before refresh tokens). */
  refresh_token?: string;
  /** ISO 8601. */
  refresh_expires_at?: string;
}

interface CredentialsFile {
  servers: Record<string, Session>;
}

/**
 * Reads the CLI settings from the environment.
 *
 * @param env The environment (default: the process's).
 * @returns The settings.
 * @example
 * ```ts
 * const settings = cliSettings({ COFFER_URL: "https://files.example" });
 * ```
 */
export function cliSettings(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): CliSettings {
  const home = env.HOME || env.USERPROFILE;
  const configDir = env.COFFER_CONFIG_DIR ||
    (env.XDG_CONFIG_HOME
      ? join(env.XDG_CONFIG_HOME, "coffer")
      : join(home || ".", ".config", "coffer"));
  return {
    server: env.COFFER_URL || DEFAULT_SERVER,
    configDir,
    engine: engineSettings(env),
    ...(env.INIT_CWD ? { callerDir: env.INIT_CWD } : {}),
  };
}

/**
 * Validates a server URL and drops a trailing slash, so one server has one
 * key in credentials.json.
 *
 * @throws {UsageError} unless it is an absolute http(s) URL.
 */
export function normalizeServer(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `Invalid server URL ${JSON.stringify(text)}: expected http(s)://host[:port]`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`Invalid server URL ${JSON.stringify(text)}: expected http or https`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/**
 * The sessions in credentials.json. Writes go to a temp file (0600) that is
 * renamed over the old one, so a crash never leaves half a file.
 */
export class CredentialStore {
  /** The credentials file path. */
  readonly path: string;

  /** @param configDir Where credentials.json lives (created 0700 on first save). */
  constructor(readonly configDir: string) {
    this.path = join(configDir, "credentials.json");
  }

  async #read(): Promise<CredentialsFile> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { servers: {} };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as CredentialsFile;
      return typeof parsed?.servers === "object" && parsed.servers !== null
        ? parsed
        : { servers: {} };
    } catch {
      return { servers: {} };
    }
  }

  async #write(file: CredentialsFile): Promise<void> {
    await Deno.mkdir(this.configDir, { recursive: true, mode: 0o700 });
    const temp = `${this.path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      await Deno.writeTextFile(temp, JSON.stringify(file, null, 2) + "\n", {
        mode: 0o600,
        createNew: true,
      });
      if (Deno.build.os !== "windows") await Deno.chmod(temp, 0o600);
      await Deno.rename(temp, this.path);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  }

  /**
   * Takes the exclusive lock on the credentials (waiting for another process
   * to release it); dispose the result to release it.
   */
  async lock(): Promise<Disposable> {
    await Deno.mkdir(this.configDir, { recursive: true, mode: 0o700 });
    const file = await Deno.open(`${this.path}.lock`, { create: true, write: true, mode: 0o600 });
    try {
      await file.lock(true);
    } catch (error) {
      file.close();
      throw error;
    }
    return {
      [Symbol.dispose]() {
        try {
          file.unlockSync();
        } finally {
          file.close();
        }
      },
    };
  }

  /** The session for `server`, if one was saved. */
  async get(server: string): Promise<Session | undefined> {
    return (await this.#read()).servers[server];
  }

  /** Saves (or replaces) the session for `server`. */
  async set(server: string, session: Session): Promise<void> {
    const file = await this.#read();
    file.servers[server] = session;
    await this.#write(file);
  }

  /**
   * Forgets the session for `server`.
   *
   * @returns Whether there was one.
   */
  async remove(server: string): Promise<boolean> {
    const file = await this.#read();
    if (!(server in file.servers)) return false;
    delete file.servers[server];
    await this.#write(file);
    return true;
  }
}
