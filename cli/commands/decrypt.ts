/**
 * `decrypt FILE.cbl --key KEY.json`: offline decryption of a downloaded
 * ciphertext with an exported key — no server involved. The file streams
 * through the same `decryptStream` the server uses into a temp file that
 * becomes the output only if the whole message authenticates; on any
 * failure (wrong key, modified or truncated file) the exit status is 1 and
 * no output file exists.
 *
 * @module
 */
import { basename } from "node:path";
import { DecryptionError, decryptStream, parseKeyExport } from "../../crypto/mod.ts";
import { streamFile } from "../../storage/file_stream.ts";
import { openCliEngine } from "../engine.ts";
import type { CliContext } from "../session.ts";
import { CliError, type Command, flag, stringOption, UsageError } from "../command.ts";
import { formatBytes, fsErrorText } from "../format.ts";
import { createOutputFile, outputPath } from "../output_file.ts";
import { ProgressBar } from "../progress.ts";

async function readKeyFile(path: string) {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new CliError(`Cannot read key file ${path}: ${fsErrorText(error)}`);
  }
  try {
    return parseKeyExport(text);
  } catch (error) {
    throw new CliError(`Cannot read key file ${path}: ${(error as Error).message}`);
  }
}

/** The default output name: the input without `.cbl`, else with `.decrypted`. */
export function decryptedName(input: string): string {
  const name = basename(input);
  return /\.cbl$/i.test(name) && name.length > 4 ? name.slice(0, -4) : `${name}.decrypted`;
}

/** `decrypt FILE.cbl --key KEY.json`. */
export const decryptCommand: Command<CliContext> = {
  name: "decrypt",
  usage: "FILE.cbl --key KEY.json [-o PATH] [--force]",
  summary: "Decrypt a downloaded ciphertext offline with a key from 'key'.",
  details: "Output: -o PATH, else FILE without .cbl in the current directory. The output\n" +
    "appears only if the whole file authenticates; otherwise the exit status is 1.",
  options: {
    key: { type: "string", short: "k", value: "KEY.json", description: "The exported key" },
    output: { type: "string", short: "o", value: "PATH", description: "Write here" },
    force: { type: "boolean", short: "f", description: "Overwrite an existing file" },
  },
  positionals: [1, 1],
  async run(args, context) {
    const input = args.positionals[0];
    const keyPath = stringOption(args, "key");
    if (keyPath === undefined) throw new UsageError("Missing --key KEY.json");
    const { key, context: aad } = await readKeyFile(keyPath);
    const action = `Cannot decrypt ${input}`;
    let size: number;
    try {
      size = (await Deno.stat(input)).size;
    } catch (error) {
      throw new CliError(`${action}: ${fsErrorText(error)}`);
    }
    const target = await outputPath(stringOption(args, "output"), decryptedName(input));
    await using out = await createOutputFile(target, { force: flag(args, "force") });
    using selected = await openCliEngine(context.settings.engine);
    const bar = new ProgressBar("decrypt", basename(input), size);
    let written = 0;
    const count = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        written += chunk.length;
        controller.enqueue(chunk);
      },
    });
    try {
      const file = streamFile(await Deno.open(input, { read: true }));
      await file.pipeThrough(bar.counter()).pipeThrough(
        decryptStream(key, aad, { engine: selected.engine, ownsInput: true }),
      )
        .pipeThrough(count).pipeTo(out.writable, { signal: context.signal });
    } catch (error) {
      bar.clear();
      if (error instanceof DecryptionError) {
        throw new CliError(
          `${action}: authentication failed (wrong key, or the file was modified or truncated)`,
        );
      }
      if (context.signal.aborted) throw error;
      throw new CliError(`${action}: ${fsErrorText(error)}`);
    }
    bar.finish();
    await out.commit();
    console.log(`Decrypted ${input} to ${target} (${formatBytes(written)})`);
  },
};
