/**
 * Commands take a file's id or its name: `coffer get report.pdf`. An
 * argument shaped like an id is tried as one first; otherwise (or if no file
 * has that id) it is looked up among the caller's file names. A name that
 * several files share is an error that lists their ids, so a script never
 * acts on the wrong one.
 *
 * @module
 */
import { type ApiClient, HttpError } from "./client.ts";
import { CliError } from "./command.ts";
import type { FileList, FileRecord } from "./commands/_types.ts";
import { formatBytes } from "./format.ts";

/** Every file of the signed-in user, newest first (all pages). */
export async function listAllFiles(client: ApiClient): Promise<FileRecord[]> {
  const files: FileRecord[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: "200", ...(cursor ? { cursor } : {}) });
    const page: FileList = await client.json(`/api/files?${query}`, "Cannot list files");
    files.push(...page.files);
    cursor = page.next_cursor;
  } while (cursor);
  return files;
}

/** What a file id looks like (storage/ids.ts; the CLI loads no server code). */
const ID_SHAPE = /^[A-Za-z0-9_-]{22}$/;

/**
 * Finds the caller's file with this id or name.
 *
 * @param client A signed-in client.
 * @param given An id or a display name.
 * @param action What the user asked for, for messages (`Cannot download x`).
 * @returns The file's record.
 * @throws {CliError} if no file has that id or name, or several have that name.
 */
export async function resolveFile(
  client: ApiClient,
  given: string,
  action: string,
): Promise<FileRecord> {
  if (ID_SHAPE.test(given)) {
    try {
      return await client.json<FileRecord>(`/api/files/${encodeURIComponent(given)}`, action);
    } catch (error) {
      if (!(error instanceof HttpError) || error.status !== 404) throw error;
    }
  }
  const matches = (await listAllFiles(client)).filter((file) => file.name === given);
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    throw new CliError(`${action}: no file has the id or name ${JSON.stringify(given)}`);
  }
  const listed = matches.map((file) =>
    `  ${file.id}  ${file.created_at.slice(0, 16).replace("T", " ")}  ${formatBytes(file.size)}`
  );
  throw new CliError(
    `${action}: ${matches.length} files are named ${JSON.stringify(given)}; ` +
      `give one of their ids:\n${listed.join("\n")}`,
  );
}
