/**
 * The small framework every CLI command and admin task is written in: a
 * command declares its options once (parsed with `node:util` `parseArgs`,
 * rendered into its `--help`), and {@linkcode runCommand} turns what it
 * throws into Unix exit codes — 0 ok, 1 failure, 2 usage — with one readable
 * line on stderr.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** Exit status of a successful command. */
export const EXIT_OK = 0;
/** Exit status when the command ran and failed. */
export const EXIT_FAILURE = 1;
/** Exit status for a malformed command line. */
export const EXIT_USAGE = 2;
/** Exit status after Ctrl-C (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

/**
 * A failure to report as one line on stderr (no stack trace).
 *
 * @example
 * ```ts
 * throw new CliError("Cannot download f1: the file is queued");
 * ```
 */
export class CliError extends Error {
  /**
   * @param message What failed and why, sentence case, no trailing period.
   * @param exitCode The process exit status (default 1).
   */
  constructor(message: string, readonly exitCode: number = EXIT_FAILURE, options?: ErrorOptions) {
    super(message, options);
    this.name = "CliError";
  }
}

/** A malformed command line: exit status 2 and a pointer to `--help`. */
export class UsageError extends CliError {
  /** @param message What is wrong with the arguments. */
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = "UsageError";
  }
}

/** One option of a command. */
export interface OptionSpec {
  type: "boolean" | "string";
  short?: string;
  /** Placeholder shown in help for string options, e.g. `PATH`. */
  value?: string;
  description: string;
}

/** Parsed option values (strings, booleans) and positional arguments. */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Things every command may use; tests and the entry point provide them. */
export interface CommandContext {
  /** Aborted on Ctrl-C; long operations pass it to fetch and pipes. */
  signal: AbortSignal;
}

/** A command: its options, its help text and what it does. */
export interface Command<C extends CommandContext = CommandContext> {
  name: string;
  /** Arguments after the command name, e.g. `ID [-o PATH] [--encrypted]`. */
  usage: string;
  summary: string;
  /** Extra help paragraphs. */
  details?: string;
  options: Record<string, OptionSpec>;
  /** Fewest and most positional arguments (`Infinity` for no limit). */
  positionals: [min: number, max: number];
  /** Runs the command; resolves to an exit status (0 when omitted). */
  run(args: ParsedArgs, context: C): Promise<number | void>;
}

/** `--help`, understood by every command. */
export const HELP_OPTION: Record<string, OptionSpec> = {
  help: { type: "boolean", short: "h", description: "Show this help" },
};

/**
 * Renders the `--help` text of a command.
 *
 * @param program How the user invokes the program, e.g. `deno task cli`.
 * @param command The command.
 * @returns The help text, ending without a newline.
 */
export function commandHelp(program: string, command: Command<never>): string {
  const options = Object.entries({ ...command.options, ...HELP_OPTION }).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${
      spec.value ? ` ${spec.value}` : ""
    }`;
    return `  ${flag.padEnd(26)} ${spec.description}`;
  });
  const name = command.name ? ` ${command.name}` : "";
  return [
    `Usage: ${program}${name} ${command.usage}`.trimEnd(),
    "",
    command.summary,
    ...(command.details ? ["", command.details] : []),
    "",
    "Options:",
    ...options,
  ].join("\n");
}

/**
 * Parses a command's arguments strictly: unknown options, missing option
 * values and a wrong number of positionals are usage errors.
 *
 * @returns The values, or `undefined` when `--help` was asked for.
 * @throws {UsageError} on a malformed command line.
 */
export function parseCommandArgs(
  command: Command<never>,
  args: string[],
): ParsedArgs | undefined {
  // Help wins over anything else on the line, as users expect of `--help`.
  const end = args.indexOf("--");
  if (args.slice(0, end < 0 ? undefined : end).some((a) => a === "--help" || a === "-h")) {
    return undefined;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...command.options, ...HELP_OPTION },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // Keep the first sentence: "Unknown option '--bogus'".
    throw new UsageError((error as Error).message.split(/\.(?:\s|$)/)[0]);
  }
  const values = parsed.values as ParsedArgs["values"];
  const [min, max] = command.positionals;
  const count = parsed.positionals.length;
  if (count < min) throw new UsageError(`Missing argument: expected ${command.usage}`);
  if (count > max) {
    throw new UsageError(`Unexpected argument ${JSON.stringify(parsed.positionals[max])}`);
  }
  return { values, positionals: parsed.positionals };
}

/** Reads a string option (undefined when absent). */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === "string" ? value : undefined;
}

/** Reads a boolean option. */
export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Writes one line to stderr. */
export function printError(line: string): void {
  console.error(line);
}

/**
 * Runs a command with its arguments and maps the outcome to an exit status:
 * `--help` prints help (0), a {@linkcode UsageError} prints the problem and a
 * pointer to `--help` (2), a {@linkcode CliError} its message (its status),
 * anything else `unexpected error: …` (1).
 *
 * @param program How the user invokes the program, for messages.
 * @param command The command to run.
 * @param args Arguments after the command name.
 * @param context Passed to the command.
 * @returns The exit status.
 */
export async function runCommand<C extends CommandContext>(
  program: string,
  command: Command<C>,
  args: string[],
  context: C,
): Promise<number> {
  const invocation = command.name ? `${program} ${command.name}` : program;
  try {
    const parsed = parseCommandArgs(command as Command<never>, args);
    if (!parsed) {
      console.log(commandHelp(program, command as Command<never>));
      return EXIT_OK;
    }
    return (await command.run(parsed, context)) ?? EXIT_OK;
  } catch (error) {
    if (context.signal.aborted) {
      printError("coffer: Interrupted");
      return EXIT_INTERRUPTED;
    }
    if (error instanceof UsageError) {
      printError(`coffer: ${error.message}`);
      printError(`Try '${invocation} --help' for more information.`);
      return EXIT_USAGE;
    }
    if (error instanceof CliError) {
      printError(`coffer: ${error.message}`);
      return error.exitCode;
    }
    printError(`coffer: unexpected error: ${(error as Error)?.message ?? String(error)}`);
    return EXIT_FAILURE;
  }
}
