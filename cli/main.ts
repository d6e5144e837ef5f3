/**
 * `coffer <command> …` — the Coffer command-line client, installed with
 * `deno install -g … -n coffer --config deno.json cli/main.ts` (README.md), or
 * run in the repository as `deno task cli <command> …`.
 *
 * ```
 * coffer register alice
 * coffer upload report.pdf photos/*.jpg
 * coffer ls
 * coffer get report.pdf -o ~/Downloads/
 * coffer get FILE_ID --encrypted && coffer key FILE_ID -o key.json
 * coffer decrypt report.pdf.cbl --key key.json
 * ```
 *
 * Relative paths resolve against the caller's directory, also under
 * `deno task cli` (which runs in the repository and passes the caller's
 * directory as `INIT_CWD`).
 *
 * Exit status: 0 ok, 1 failure, 2 usage error, 130 interrupted. Errors are
 * one line on stderr. Every command has `--help`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { EXIT_OK, EXIT_USAGE, printError, runCommand, UsageError } from "./command.ts";
import { CLIENT_COMMANDS as COMMANDS } from "./commands/mod.ts";
import type { CliContext } from "./session.ts";
import { type CliSettings, cliSettings } from "./settings.ts";

/** How the user runs the CLI, for help and messages. */
export const PROGRAM = "coffer";

function overview(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    `Usage: ${PROGRAM} [--server URL] <command> [options]`,
    "",
    "Coffer client: upload files to be encrypted and stored, list, download and delete",
    "them, and decrypt downloaded ciphertexts offline.",
    "",
    "Commands:",
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    `Run '${PROGRAM} <command> --help' for a command's options.`,
    "Server: --server URL, else $COFFER_URL, else http://127.0.0.1:8080.",
  ].join("\n");
}

/**
 * Splits leading global options (`--server URL`, `--help`) from the command.
 * A global `--server` is handed to the command (if it talks to a server).
 */
function splitGlobal(args: string[]): { help: boolean; global: string[]; rest: string[] } {
  const global: string[] = [];
  let i = 0;
  let help = false;
  for (; i < args.length && args[i].startsWith("-"); i++) {
    if (args[i] === "--help" || args[i] === "-h") help = true;
    else if (args[i] === "--server" && i + 1 < args.length) global.push(args[i], args[++i]);
    else if (args[i].startsWith("--server=")) global.push(args[i]);
    else break;
  }
  return { help, global, rest: args.slice(i) };
}

/** The repository root, where `deno task cli` runs the CLI. */
const REPOSITORY = fileURLToPath(new URL("../", import.meta.url));

/**
 * Whether this is `deno task cli` (cwd is the repository, the caller's
 * directory is in `INIT_CWD`). `INIT_CWD` alone is not enough: every process
 * under any `deno task` (or `npm run`) inherits it, and an installed `coffer`
 * started by another project's task must keep the directory it was given.
 */
function startedByDenoTask(settings: CliSettings): boolean {
  if (!settings.callerDir) return false;
  return resolve(Deno.cwd()) === resolve(REPOSITORY);
}

/**
 * Runs the CLI.
 *
 * @param args The command line after the program name.
 * @param options `signal` is aborted on Ctrl-C; `settings` default to the environment's.
 * @returns The exit status.
 */
export async function main(
  args: string[],
  options: { signal: AbortSignal; settings?: CliSettings },
): Promise<number> {
  const { signal } = options;
  const { help, global, rest } = splitGlobal(args);
  const [name, ...commandArgs] = rest;
  if (name === undefined || name === "help") {
    const topic = COMMANDS.find((command) => command.name === commandArgs[0]);
    if (topic) return await runCommand(PROGRAM, topic, ["--help"], { signal } as CliContext);
    if (name === undefined && !help) {
      printError(overview());
      return EXIT_USAGE;
    }
    console.log(overview());
    return EXIT_OK;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) {
    printError(`coffer: unknown command ${JSON.stringify(name)}`);
    printError(`Try '${PROGRAM} --help' for the list of commands.`);
    return EXIT_USAGE;
  }
  const passed = "server" in command.options ? [...global, ...commandArgs] : commandArgs;
  let settings: CliSettings;
  try {
    settings = options.settings ?? cliSettings();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    printError(`coffer: ${error.message}`);
    return EXIT_USAGE;
  }
  if (startedByDenoTask(settings)) Deno.chdir(settings.callerDir!);
  const context: CliContext = { signal, settings };
  return await runCommand(PROGRAM, command, help ? ["--help"] : passed, context);
}

/** Runs `main` for the process, turning Ctrl-C into a clean abort (exit 130). */
async function runProcess(): Promise<number> {
  const controller = new AbortController();
  const onInterrupt = () => controller.abort(new Error("Interrupted"));
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    return await main(Deno.args, { signal: controller.signal });
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

if (import.meta.main) Deno.exit(await runProcess());
