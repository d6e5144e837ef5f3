/**
 * Writing a download or a decryption to disk so that a failure never leaves
 * a partial file behind: bytes go to a private temp file beside the target
 * (`.NAME.XXXXXXXX.part`, mode 0600) which is renamed over the target only
 * after everything arrived and checked out. An existing target is refused
 * unless `force` is set.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { CliError } from "./command.ts";
import { fsErrorText } from "./format.ts";

/** A file being written; dispose it to discard anything not committed. */
export interface OutputFile extends AsyncDisposable {
  /** Where the file ends up. */
  readonly path: string;
  /** Write the content here (closes the temp file when the pipe ends). */
  readonly writable: WritableStream<Uint8Array>;
  /** Moves the finished temp file to {@linkcode OutputFile.path}. */
  commit(): Promise<void>;
  /** Removes the temp file (idempotent; a no-op after commit). */
  discard(): Promise<void>;
}

async function exists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Resolves where to write: `-o PATH` if given (a directory gets the default
 * name inside it), else the default name in the current directory.
 */
export async function outputPath(option: string | undefined, defaultName: string): Promise<string> {
  if (option === undefined) return defaultName;
  const info = await exists(option);
  return info?.isDirectory ? join(option, defaultName) : option;
}

function refuseExisting(path: string): never {
  throw new CliError(`Cannot write ${path}: it already exists (use --force to overwrite)`);
}

/**
 * Opens a temp file for `path`.
 *
 * @param path The final path.
 * @param options `force` to replace an existing file.
 * @throws {CliError} if `path` exists (without `force`) or is a directory,
 *   or its directory is not writable.
 */
export async function createOutputFile(
  path: string,
  options: { force?: boolean } = {},
): Promise<OutputFile> {
  const existing = await exists(path);
  if (existing?.isDirectory) throw new CliError(`Cannot write ${path}: it is a directory`);
  if (existing && !options.force) refuseExisting(path);
  const temp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.part`);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
  } catch (error) {
    throw new CliError(`Cannot write ${path}: ${fsErrorText(error)}`, undefined, {
      cause: error,
    });
  }
  let settled = false;
  const discard = async () => {
    if (settled) return;
    settled = true;
    try {
      file.close();
    } catch {
      // Already closed by the finished or aborted pipe.
    }
    await Deno.remove(temp).catch(() => {});
  };
  return {
    path,
    writable: file.writable,
    async commit() {
      if (settled) throw new Error(`Cannot commit ${path}: already finished`);
      if (!options.force && await exists(path)) {
        await discard();
        refuseExisting(path);
      }
      await Deno.rename(temp, path);
      settled = true;
    },
    discard,
    [Symbol.asyncDispose]: discard,
  };
}
