/**
 * Share links and file requests from the command line: `share FILE` (an id
 * or a name; `--expires 7d`, `--max-downloads N`, `--password-stdin`),
 * `shares`, `unshare ID…` and `request "Title"` (`--max-files N`,
 * `--expires`).
 *
 * @module
 */
import {
  CliError,
  type Command,
  EXIT_FAILURE,
  flag,
  stringOption,
  UsageError,
} from "../command.ts";
import { formatBytes, formatTable } from "../format.ts";
import { readPassword } from "../prompt.ts";
import { resolveFile } from "../resolve_file.ts";
import { type CliContext, JSON_OPTION, SERVER_OPTION, signedInClient } from "../session.ts";

/** A share link as the API shows it. */
interface Share {
  id: string;
  url: string;
  file_id: string;
  created_at: string;
  expires_at: string;
  max_downloads: number | null;
  downloads: number;
  bytes_served: number;
  has_password: boolean;
  state: string;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * Parses a duration such as `90s`, `30m`, `12h`, `7d` or `2w` (a bare number is seconds).
 *
 * @returns Seconds.
 * @throws {UsageError} for anything else.
 * @example
 * ```ts
 * parseDuration("7d"); // 604800
 * ```
 */
export function parseDuration(text: string): number {
  const match = /^(\d{1,9})([smhdw]?)$/.exec(text.trim());
  if (!match) throw new UsageError(`Cannot read duration "${text}": use e.g. 30m, 12h, 7d or 2w`);
  return Number(match[1]) * UNITS[match[2] || "s"];
}

function positiveInteger(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) {
    throw new UsageError(`--${option} must be a whole number of at least 1`);
  }
  return Number(text);
}

const EXPIRES_OPTION = {
  expires: {
    type: "string",
    value: "DURATION",
    description: "How long the link works: 30m, 12h, 7d (default), 2w …",
  },
} as const;

/** `share FILE` (an id or a name, see resolve_file.ts). */
export const shareCommand: Command<CliContext> = {
  name: "share",
  usage: "FILE [--expires 7d] [--max-downloads N] [--password-stdin] [--json]",
  summary: "Make a share link to a stored file for someone without an account.",
  details: "Prints the link. With --password-stdin the link asks for a password (read from\n" +
    "stdin, 8–1024 characters) before the download.",
  options: {
    ...EXPIRES_OPTION,
    "max-downloads": { type: "string", value: "N", description: "Full downloads allowed" },
    "password-stdin": {
      type: "boolean",
      description: "Protect the link with a password from stdin",
    },
    ...JSON_OPTION,
    ...SERVER_OPTION,
  },
  positionals: [1, 1],
  async run(args, context) {
    const expires = stringOption(args, "expires");
    const body: Record<string, unknown> = {};
    if (expires !== undefined) body.expires_in = parseDuration(expires);
    const max = positiveInteger(stringOption(args, "max-downloads"), "max-downloads");
    if (max !== undefined) body.max_downloads = max;
    if (flag(args, "password-stdin")) body.password = await readPassword({ fromStdin: true });
    const client = await signedInClient(args, context);
    const given = args.positionals[0];
    const action = `Cannot share ${given}`;
    const { id } = await resolveFile(client, given, action);
    const share = await client.json<Share>(
      `/api/files/${encodeURIComponent(id)}/shares`,
      action,
      {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      },
    );
    if (flag(args, "json")) {
      console.log(JSON.stringify({ ...share, link: `${client.server}${share.url}` }, null, 2));
      return;
    }
    console.log(`${client.server}${share.url}`);
    console.error(`Link ${share.id} works until ${share.expires_at}`);
  },
};

/** `shares`. */
export const sharesCommand: Command<CliContext> = {
  name: "shares",
  usage: "[--json]",
  summary: "List your share links, newest first.",
  options: { ...JSON_OPTION, ...SERVER_OPTION },
  positionals: [0, 0],
  async run(args, context) {
    const client = await signedInClient(args, context);
    const shares: Share[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ limit: "200", ...(cursor ? { cursor } : {}) });
      const page: { shares: Share[]; next_cursor: string | null } = await client.json(
        `/api/shares?${query}`,
        "Cannot list share links",
      );
      shares.push(...page.shares);
      cursor = page.next_cursor;
    } while (cursor);
    if (flag(args, "json")) {
      console.log(JSON.stringify(shares, null, 2));
      return;
    }
    if (shares.length === 0) return;
    const rows = shares.map((share) => [
      share.id,
      share.file_id,
      share.state,
      `${share.downloads}${share.max_downloads === null ? "" : `/${share.max_downloads}`}`,
      formatBytes(share.bytes_served),
      share.expires_at.slice(0, 16).replace("T", " "),
      share.has_password ? "yes" : "no",
    ]);
    console.log(
      formatTable(["ID", "FILE", "STATE", "DOWNLOADS", "SERVED", "EXPIRES", "PASSWORD"], rows),
    );
  },
};

/** `unshare ID…`. */
export const unshareCommand: Command<CliContext> = {
  name: "unshare",
  usage: "ID…",
  summary: "Revoke share links: they stop working at once.",
  options: { ...SERVER_OPTION },
  positionals: [1, Infinity],
  async run(args, context) {
    const client = await signedInClient(args, context);
    let failures = 0;
    for (const id of args.positionals) {
      try {
        const response = await client.request(
          `/api/shares/${encodeURIComponent(id)}`,
          `Cannot revoke ${id}`,
          { method: "DELETE" },
        );
        await response.body?.cancel();
        console.log(`Revoked ${id}`);
      } catch (error) {
        if (!(error instanceof CliError) || context.signal.aborted) throw error;
        console.error(`coffer: ${error.message}`);
        failures++;
      }
    }
    return failures > 0 ? EXIT_FAILURE : undefined;
  },
};

/** `request "Title"`. */
export const requestCommand: Command<CliContext> = {
  name: "request",
  usage: '"TITLE" [--max-files N] [--expires 7d] [--json]',
  summary: "Make a file request: a link through which others upload files to you.",
  options: {
    ...EXPIRES_OPTION,
    "max-files": { type: "string", value: "N", description: "Most files the link takes" },
    ...JSON_OPTION,
    ...SERVER_OPTION,
  },
  positionals: [1, 1],
  async run(args, context) {
    const body: Record<string, unknown> = { title: args.positionals[0] };
    const expires = stringOption(args, "expires");
    if (expires !== undefined) body.expires_in = parseDuration(expires);
    const max = positiveInteger(stringOption(args, "max-files"), "max-files");
    if (max !== undefined) body.max_files = max;
    const client = await signedInClient(args, context);
    const request = await client.json<{ id: string; url: string; expires_at: string }>(
      "/api/requests",
      "Cannot create the file request",
      {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      },
    );
    if (flag(args, "json")) {
      console.log(JSON.stringify({ ...request, link: `${client.server}${request.url}` }, null, 2));
      return;
    }
    console.log(`${client.server}${request.url}`);
    console.error(`Upload link ${request.id} works until ${request.expires_at}`);
  },
};
