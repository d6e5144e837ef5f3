/**
 * Entry point. `deno task start` runs the API and the worker in one process;
 * `deno task api` and `deno task worker` run one role each. Configuration is
 * read once here; SIGINT/SIGTERM stop accepting requests, hand back or finish
 * jobs, close Redis and stop any embedded redis-server within 10 seconds.
 */
import { ConfigError, loadConfig } from "./config.ts";
import { createLogger } from "./log.ts";
import { ListenError, type Role, runRoles } from "./roles.ts";
import { StartupError } from "./services.ts";
import { RedisUnavailableError } from "./storage/redis_server.ts";

const ROLES: Record<string, Role[]> = { all: ["api", "worker"], api: ["api"], worker: ["worker"] };

async function main(args: string[]): Promise<number> {
  const roles = ROLES[args[0] ?? "all"];
  if (!roles) {
    console.error(`Usage: main.ts [all|api|worker] (got ${args[0]})`);
    return 2;
  }
  const log = createLogger();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const config = loadConfig(Deno.env.toObject());
    await runRoles(roles, config, log, stop.signal);
    return 0;
  } catch (error) {
    if (
      error instanceof ConfigError || error instanceof RedisUnavailableError ||
      error instanceof StartupError || error instanceof ListenError
    ) {
      console.error(error.message);
      return 1;
    }
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
