/**
 * The small file commands: `ls`, `status FILE`, `rm FILE…` and `key FILE`,
 * where FILE is an id or a name (resolve_file.ts).
 *
 * @module
 */
import { CliError, type Command, EXIT_FAILURE, flag, stringOption } from "../command.ts";
import { formatBytes, formatTable } from "../format.ts";
import { createOutputFile } from "../output_file.ts";
import { type CliContext, JSON_OPTION, SERVER_OPTION, signedInClient } from "../session.ts";
import { listAllFiles, resolveFile } from "../resolve_file.ts";
import type { FileStatusView } from "./_types.ts";

function fileId(id: string): string {
  return encodeURIComponent(id);
}

/** `ls`. */
export const lsCommand: Command<CliContext> = {
  name: "ls",
  usage: "[--json]",
  summary: "List your files, newest first.",
  options: { ...JSON_OPTION, ...SERVER_OPTION },
  positionals: [0, 0],
  async run(args, context) {
    const files = await listAllFiles(await signedInClient(args, context));
    if (flag(args, "json")) {
      console.log(JSON.stringify(files, null, 2));
      return;
    }
    if (files.length === 0) return;
    const rows = files.map((file) => [
      file.id,
      formatBytes(file.size),
      file.status,
      file.created_at.slice(0, 16).replace("T", " "),
      file.name,
    ]);
    console.log(formatTable(["ID", "SIZE", "STATUS", "CREATED", "NAME"], rows));
  },
};

/** `status ID`. */
export const statusCommand: Command<CliContext> = {
  name: "status",
  usage: "FILE [--json]",
  summary: "Show whether a file is queued, encrypting, stored or failed, and its progress.",
  options: { ...JSON_OPTION, ...SERVER_OPTION },
  positionals: [1, 1],
  async run(args, context) {
    const client = await signedInClient(args, context);
    const given = args.positionals[0];
    const action = `Cannot get the status of ${given}`;
    const { id } = await resolveFile(client, given, action);
    const view = await client.json<FileStatusView>(`/api/files/${fileId(id)}/status`, action);
    if (flag(args, "json")) {
      console.log(JSON.stringify(view, null, 2));
      return;
    }
    const { bytes_done: done, bytes_total: total, percent } = view.progress;
    const progress = `${percent}% (${formatBytes(done)} of ${formatBytes(total)})`;
    console.log(`${view.status}  ${progress}${view.error ? `  ${view.error}` : ""}`);
  },
};

/** `rm ID…`. */
export const rmCommand: Command<CliContext> = {
  name: "rm",
  usage: "FILE…",
  summary: "Delete files: their keys first (crypto-shredding), then the stored ciphertext.",
  options: { ...SERVER_OPTION },
  positionals: [1, Infinity],
  async run(args, context) {
    const client = await signedInClient(args, context);
    let failures = 0;
    for (const given of args.positionals) {
      try {
        const action = `Cannot delete ${given}`;
        const { id, name } = await resolveFile(client, given, action);
        const response = await client.request(`/api/files/${fileId(id)}`, action, {
          method: "DELETE",
        });
        await response.body?.cancel();
        console.log(`Deleted ${id}${name === given ? "" : ` (${name})`}`);
      } catch (error) {
        if (!(error instanceof CliError) || context.signal.aborted) throw error;
        console.error(`coffer: ${error.message}`);
        failures++;
      }
    }
    return failures > 0 ? EXIT_FAILURE : undefined;
  },
};

/** `key ID`. */
export const keyCommand: Command<CliContext> = {
  name: "key",
  usage: "FILE [-o KEY.json] [--force]",
  summary: "Export a file's data key (JSON) for offline decryption with 'decrypt'.",
  details: "The key decrypts the file: keep it as secret as the file itself. Without -o it\n" +
    "is printed on stdout; with -o it is written with mode 0600.",
  options: {
    output: { type: "string", short: "o", value: "PATH", description: "Write the key here" },
    force: { type: "boolean", short: "f", description: "Overwrite an existing file" },
    ...SERVER_OPTION,
  },
  positionals: [1, 1],
  async run(args, context) {
    const client = await signedInClient(args, context);
    const given = args.positionals[0];
    const action = `Cannot export the key of ${given}`;
    const { id } = await resolveFile(client, given, action);
    const response = await client.request(`/api/files/${fileId(id)}/key`, action);
    const text = JSON.stringify(await response.json(), null, 2) + "\n";
    const path = stringOption(args, "output");
    if (path === undefined) {
      console.log(text.trimEnd());
      return;
    }
    await using out = await createOutputFile(path, { force: flag(args, "force") });
    await ReadableStream.from([new TextEncoder().encode(text)]).pipeTo(out.writable);
    await out.commit();
    console.log(`Saved the key of ${given} to ${path}`);
  },
};
