/**
 * `upload FILE…`: sends each file from disk as a resumable tus upload
 * (cli/tus_upload.ts: 50 MiB chunks with their Content-Length, never the
 * whole file in memory; an interrupted upload of the same file resumes when
 * the command runs again), then waits until
 * the server has encrypted and stored it (unless `--no-wait`), with a
 * progress bar for each phase on a terminal.
 *
 * @module
 */
import { basename, extname, resolve } from "node:path";
import type { ApiClient } from "../client.ts";
import { CliError, type Command, EXIT_FAILURE, flag, stringOption } from "../command.ts";
import { formatBytes, fsErrorText } from "../format.ts";
import { ProgressBar } from "../progress.ts";
import { type CliContext, JSON_OPTION, SERVER_OPTION, signedInClient } from "../session.ts";
import { uploadResumable } from "../tus_upload.ts";
import type { FileRecord, FileStatusView } from "./_types.ts";

/** How often the encryption progress is polled. */
const POLL_MS = 250;

const CONTENT_TYPES: Record<string, string> = {
  ".txt": "text/plain",
  ".md": "text/markdown",
  ".csv": "text/csv",
  ".html": "text/html",
  ".json": "application/json",
  ".pdf": "application/pdf",
  ".zip": "application/zip",
  ".gz": "application/gzip",
  ".tar": "application/x-tar",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".svg": "image/svg+xml",
  ".mp3": "audio/mpeg",
  ".mp4": "video/mp4",
};

/** Guesses a content type from a file extension (the server stores what it is told). */
export function guessContentType(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

async function sendFile(
  client: ApiClient,
  context: CliContext,
  path: string,
  type: string | undefined,
): Promise<FileRecord> {
  const name = basename(path);
  const action = `Cannot upload ${path}`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new CliError(`${action}: ${fsErrorText(error)}`);
  }
  if (!info.isFile) throw new CliError(`${action}: not a regular file`);
  const bar = new ProgressBar("upload", name, info.size);
  try {
    const fileId = await uploadResumable({
      server: client.server,
      token: () => client.currentToken(),
      path: resolve(path),
      name,
      type: type ?? guessContentType(path),
      configDir: context.settings.configDir,
      signal: context.signal,
      onProgress: (sent) => bar.update(sent),
      onResumed: (offset, length) => {
        console.error(`coffer: resuming ${name} at ${Math.floor((offset / length) * 100)} %`);
      },
    }, action);
    bar.finish();
    return await client.json<FileRecord>(`/api/files/${fileId}`, action);
  } catch (error) {
    bar.clear();
    throw error;
  }
}

/**
 * Polls a file's status until it is `stored`, drawing the encryption progress.
 *
 * @throws {CliError} if the upload failed on the server.
 */
export async function waitUntilStored(
  client: ApiClient,
  record: FileRecord,
  signal: AbortSignal,
): Promise<FileRecord> {
  const bar = new ProgressBar("encrypt", record.name, record.size);
  const action = `Cannot store ${record.name}`;
  try {
    while (true) {
      const view = await client.json<FileStatusView>(`/api/files/${record.id}/status`, action);
      bar.update(view.progress.bytes_done);
      if (view.status === "failed") throw new CliError(`${action}: ${view.error ?? "failed"}`);
      if (view.status === "stored") break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      signal.throwIfAborted();
    }
    bar.finish();
  } catch (error) {
    bar.clear();
    throw error;
  }
  return await client.json<FileRecord>(`/api/files/${record.id}`, action);
}

/** `upload FILE…`. */
export const uploadCommand: Command<CliContext> = {
  name: "upload",
  usage: "FILE… [--no-wait] [--type TYPE] [--json]",
  summary: "Upload files; each is encrypted by the server before it reaches storage.",
  details: "Waits until every file is stored unless --no-wait is given. Files are uploaded\n" +
    "one after another; a file that fails is reported and the others still go up.",
  options: {
    "no-wait": { type: "boolean", description: "Return once the server has accepted the files" },
    type: { type: "string", value: "TYPE", description: "Content type (default: from extension)" },
    ...JSON_OPTION,
    ...SERVER_OPTION,
  },
  positionals: [1, Infinity],
  async run(args, context) {
    const client = await signedInClient(args, context);
    const type = stringOption(args, "type");
    const accepted: FileRecord[] = [];
    let failures = 0;
    for (const path of args.positionals) {
      try {
        accepted.push(await sendFile(client, context, path, type));
      } catch (error) {
        if (!(error instanceof CliError) || context.signal.aborted) throw error;
        console.error(`coffer: ${error.message}`);
        failures++;
      }
    }
    const results: FileRecord[] = [];
    for (const record of accepted) {
      try {
        results.push(
          flag(args, "no-wait") ? record : await waitUntilStored(client, record, context.signal),
        );
      } catch (error) {
        if (!(error instanceof CliError) || context.signal.aborted) throw error;
        console.error(`coffer: ${error.message}`);
        failures++;
      }
    }
    if (flag(args, "json")) console.log(JSON.stringify(results, null, 2));
    else {
      for (const file of results) {
        console.log(
          `${file.id}  ${file.status.padEnd(7)}  ${formatBytes(file.size)}  ${file.name}`,
        );
      }
    }
    return failures > 0 ? EXIT_FAILURE : undefined;
  },
};
