/**
 * Reading what the user types: a line (echoed), a secret (not echoed: the
 * terminal is put in raw mode and the bytes are read one by one), or the
 * whole of stdin for scripts (`--password-stdin`). Prompts go to stderr so
 * stdout stays clean for output.
 *
 * @module
 */
import { CliError, EXIT_INTERRUPTED, UsageError } from "./command.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = 0x08;
const DELETE = 0x7f;
const CR = 0x0d;
const LF = 0x0a;

function writePrompt(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text));
}

/** Whether stdin is an interactive terminal. */
export function stdinIsTerminal(): boolean {
  return Deno.stdin.isTerminal();
}

/** Removes the last UTF-8 character from a byte list. */
function dropLastCharacter(bytes: number[]): void {
  while (bytes.length > 0) {
    const byte = bytes.pop()!;
    if ((byte & 0xc0) !== 0x80) return;
  }
}

/**
 * Prompts on the terminal and reads a line without echoing it.
 *
 * @param prompt Shown on stderr, e.g. `Password: `.
 * @returns What was typed (without the newline).
 * @throws {UsageError} if stdin is not a terminal.
 * @throws {CliError} (exit 130) on Ctrl-C, or on Ctrl-D before any input.
 */
export async function readSecret(prompt: string): Promise<string> {
  if (!stdinIsTerminal()) {
    throw new UsageError("Cannot prompt for a password: stdin is not a terminal");
  }
  writePrompt(prompt);
  const bytes: number[] = [];
  const buffer = new Uint8Array(64);
  Deno.stdin.setRaw(true);
  try {
    while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const byte of buffer.subarray(0, n)) {
        if (byte === CR || byte === LF) return decoder.decode(new Uint8Array(bytes));
        if (byte === CTRL_C) throw new CliError("Interrupted", EXIT_INTERRUPTED);
        if (byte === CTRL_D) {
          if (bytes.length === 0) throw new CliError("Cannot read password: end of input");
          return decoder.decode(new Uint8Array(bytes));
        }
        if (byte === DELETE || byte === BACKSPACE) dropLastCharacter(bytes);
        else bytes.push(byte);
      }
    }
    return decoder.decode(new Uint8Array(bytes));
  } finally {
    Deno.stdin.setRaw(false);
    writePrompt("\n");
  }
}

/**
 * Prompts on the terminal and reads one echoed line.
 *
 * @param prompt Shown on stderr, e.g. `Username: `.
 * @returns The line, trimmed.
 * @throws {UsageError} if stdin is not a terminal.
 */
export async function readLine(prompt: string): Promise<string> {
  if (!stdinIsTerminal()) throw new UsageError("Cannot prompt: stdin is not a terminal");
  writePrompt(prompt);
  const bytes: number[] = [];
  const buffer = new Uint8Array(256);
  while (true) {
    const n = await Deno.stdin.read(buffer);
    if (n === null) break;
    const chunk = buffer.subarray(0, n);
    const end = chunk.indexOf(LF);
    bytes.push(...(end < 0 ? chunk : chunk.subarray(0, end)));
    if (end >= 0) break;
  }
  return decoder.decode(new Uint8Array(bytes)).trim();
}

/**
 * Reads all of stdin as text and drops one trailing line break (what
 * `echo "$PASSWORD" | …` adds).
 *
 * @param limit Most bytes accepted (a password is short).
 * @throws {CliError} if stdin is longer than `limit`.
 */
export async function readStdinText(limit = 16 * 1024): Promise<string> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of Deno.stdin.readable) {
    length += chunk.length;
    if (length > limit) throw new CliError(`Cannot read stdin: more than ${limit} bytes`);
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return decoder.decode(bytes).replace(/\r?\n$/, "");
}

/**
 * Gets a password the way the user chose: from stdin when asked to (or when
 * stdin is not a terminal and `stdinWhenPiped` is set), else by prompting
 * without echo — twice when `confirm` is set.
 *
 * @throws {UsageError} if stdin is not a terminal and stdin was not chosen.
 * @throws {CliError} if the two entries differ or the password is empty.
 */
export async function readPassword(
  options: { fromStdin: boolean; confirm?: boolean; stdinWhenPiped?: boolean },
): Promise<string> {
  const piped = !stdinIsTerminal();
  if (options.fromStdin || (piped && options.stdinWhenPiped)) {
    const password = await readStdinText();
    if (password === "") throw new CliError("Cannot read password: stdin was empty");
    return password;
  }
  if (piped) {
    throw new UsageError(
      "Cannot prompt for a password: stdin is not a terminal (use --password-stdin)",
    );
  }
  const password = await readSecret("Password: ");
  if (options.confirm && await readSecret("Repeat password: ") !== password) {
    throw new CliError("Cannot set password: the two entries differ");
  }
  if (password === "") throw new CliError("Cannot read password: nothing was typed");
  return password;
}
