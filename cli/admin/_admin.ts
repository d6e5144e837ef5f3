/**
 * What the admin tasks (`deno task user:add`, `keys:rotate`, `reindex`)
 * share: they run with the server's own configuration (config.ts) and open
 * the same services, talking to Redis and the object store directly.
 *
 * Two safety rails the server does not need: an admin task never spawns an
 * embedded redis-server (a second one on the server's data directory would
 * corrupt it — start Redis yourself and set `REDIS_URL`), and it never
 * generates master keys (that would silently mean "no access to anything").
 *
 * @module
 */
import { type Config, ConfigError, loadConfig } from "../../config.ts";
import { createLogger, type Logger } from "../../log.ts";
import { openServices, type Services, StartupError } from "../../services.ts";
import { redisAnswers, RedisUnavailableError } from "../../storage/redis_server.ts";
import {
  CliError,
  type Command,
  type CommandContext,
  EXIT_INTERRUPTED,
  runCommand,
} from "../command.ts";

/** The context of an admin task. */
export interface AdminContext extends CommandContext {
  /** Loads the server configuration (from the environment, once). */
  config(): Config;
}

/** Admin output is for people: only warnings and errors of the services, on stderr. */
const adminLogger: Logger = createLogger((line) => {
  const { level, event, ...fields } = JSON.parse(line);
  if (level === "info") return;
  delete fields.time;
  console.error(`coffer: ${level}: ${event} ${JSON.stringify(fields)}`);
});

/**
 * Opens the services of the configured deployment for an admin task.
 *
 * @throws {CliError} if Redis is not configured and none answers on the
 *   default address, no master keys are configured or stored in the data
 *   directory, or the data directory or the object store cannot be opened.
 */
export async function openAdminServices(config: Config): Promise<Services> {
  if (config.redisUrl === undefined) {
    if (!await redisAnswers({ hostname: "127.0.0.1", port: 6379 })) {
      throw new CliError(
        "Cannot open Redis: REDIS_URL is not set and nothing answers on 127.0.0.1:6379; " +
          "admin tasks do not start an embedded redis-server (start redis-server with the " +
          "server's data directory, --dir DATA/redis --appendonly yes, and set REDIS_URL)",
      );
    }
  }
  if (config.masterKeys === undefined) {
    try {
      await Deno.stat(`${config.dataDir}/master.keys`);
    } catch {
      throw new CliError(
        "Cannot find master keys: COFFER_MASTER_KEYS is not set and " +
          `${config.dataDir}/master.keys does not exist ` +
          "(set COFFER_DATA_DIR to the server's data directory)",
      );
    }
  }
  try {
    return await openServices({
      ...config,
      redisUrl: config.redisUrl ?? "redis://127.0.0.1:6379",
      // Admin tasks issue no tokens: never generate a JWT secret file for them.
      jwtSecret: config.jwtSecret ?? crypto.getRandomValues(new Uint8Array(32)),
    }, adminLogger);
  } catch (error) {
    if (error instanceof RedisUnavailableError || error instanceof StartupError) {
      throw new CliError(error.message);
    }
    throw error;
  }
}

/**
 * Runs an admin task as a process: configuration from the environment,
 * Ctrl-C aborts, the exit status as {@linkcode runCommand} maps it.
 *
 * @param program How the task is invoked, e.g. `deno task reindex`.
 */
export async function runAdminTask(
  program: string,
  command: Command<AdminContext>,
): Promise<number> {
  const controller = new AbortController();
  const onInterrupt = () => controller.abort(new CliError("Interrupted", EXIT_INTERRUPTED));
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    return await runCommand(program, command, Deno.args, {
      signal: controller.signal,
      config() {
        try {
          return loadConfig(Deno.env.toObject());
        } catch (error) {
          if (error instanceof ConfigError) throw new CliError(error.message);
          throw error;
        }
      },
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}
