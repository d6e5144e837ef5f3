/**
 * `get FILE` (an id or a name, see resolve_file.ts): streams a file to disk — decrypted by the server, or with
 * `--encrypted` the stored Cobblestone ciphertext as is — through a temp
 * file that becomes the target only once every byte arrived and, for
 * plaintext, its SHA-256 matches the record. Never overwrites without
 * `--force`.
 *
 * @module
 */
import { createSHA256 } from "hash-wasm";
import { CliError, type Command, flag, stringOption } from "../command.ts";
import { formatBytes, safeFileName } from "../format.ts";
import { createOutputFile, outputPath } from "../output_file.ts";
import { ProgressBar } from "../progress.ts";
import { type CliContext, JSON_OPTION, SERVER_OPTION, signedInClient } from "../session.ts";
import { resolveFile } from "../resolve_file.ts";

/** A pass-through stream that hashes what flows through it. */
async function sha256Tap() {
  const hasher = await createSHA256();
  hasher.init();
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hasher.update(chunk);
      controller.enqueue(chunk);
    },
  });
  return { stream, hex: () => hasher.digest("hex") };
}

/** `get FILE`. */
export const getCommand: Command<CliContext> = {
  name: "get",
  usage: "FILE [-o PATH] [--encrypted] [--force] [--json]",
  summary: "Download a file, decrypted (default) or as stored ciphertext (--encrypted).",
  details: "FILE is an id or a file name (a name several files share is an error listing\n" +
    "their ids). The default name is the file's name (plus .cbl with --encrypted) in the current\n" +
    "directory; -o names a file or a directory. A plaintext download is checked against\n" +
    "the SHA-256 recorded at upload. Nothing is left behind if the transfer fails.",
  options: {
    output: { type: "string", short: "o", value: "PATH", description: "Write here" },
    encrypted: { type: "boolean", description: "Download the stored ciphertext (.cbl)" },
    force: { type: "boolean", short: "f", description: "Overwrite an existing file" },
    ...JSON_OPTION,
    ...SERVER_OPTION,
  },
  positionals: [1, 1],
  async run(args, context) {
    const client = await signedInClient(args, context);
    const given = args.positionals[0];
    const encrypted = flag(args, "encrypted");
    const action = `Cannot download ${given}`;
    const record = await resolveFile(client, given, action);
    const id = record.id;
    const path = encodeURIComponent(id);
    if (record.status !== "stored") throw new CliError(`${action}: the file is ${record.status}`);
    const name = safeFileName(record.name) + (encrypted ? ".cbl" : "");
    const target = await outputPath(stringOption(args, "output"), name);
    await using out = await createOutputFile(target, { force: flag(args, "force") });
    const response = await client.request(
      `/api/files/${path}/${encrypted ? "ciphertext" : "content"}`,
      action,
    );
    const expected = encrypted ? record.ciphertext_size ?? 0 : record.size;
    const bar = new ProgressBar("download", record.name, expected);
    const hash = await sha256Tap();
    let written = 0;
    const count = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        written += chunk.length;
        controller.enqueue(chunk);
      },
    });
    try {
      await response.body!.pipeThrough(bar.counter()).pipeThrough(count)
        .pipeThrough(hash.stream).pipeTo(out.writable, { signal: context.signal });
    } catch (error) {
      bar.clear();
      if (context.signal.aborted) throw error;
      throw new CliError(`${action}: the transfer broke off (${(error as Error).message})`);
    }
    bar.finish();
    if (written !== expected) {
      throw new CliError(`${action}: received ${written} bytes, expected ${expected}`);
    }
    if (!encrypted && record.sha256 && hash.hex() !== record.sha256) {
      throw new CliError(`${action}: the content does not match its recorded SHA-256`);
    }
    await out.commit();
    if (flag(args, "json")) {
      console.log(JSON.stringify({ id, path: target, bytes: written, encrypted }));
    } else console.log(`Saved ${record.name} to ${target} (${formatBytes(written)})`);
  },
};
