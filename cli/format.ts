/**
 * Text output helpers: human-readable sizes, aligned tables and safe local
 * file names for downloads.
 *
 * @module
 */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/**
 * Formats a byte count with binary units.
 *
 * @example
 * ```ts
 * formatBytes(1536); // "1.5 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/**
 * Lays out rows as columns separated by two spaces; the last column is not
 * padded (it holds free text such as file names).
 */
export function formatTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => row[column].length)));
  return all.map((row) =>
    row.map((cell, column) => column === row.length - 1 ? cell : cell.padEnd(widths[column]))
      .join("  ")
  ).join("\n");
}

// Control characters, path separators, and characters Windows refuses in names.
// deno-lint-ignore no-control-regex
const UNSAFE_NAME = /[\u0000-\u001f\u007f-\u009f/\\:*?"<>|\u202a-\u202e\u2066-\u2069]/g;

/**
 * Turns a file's display name (which the server sanitizes, but a client
 * should not trust) into a name that is safe to create in the current
 * directory: no separators, no control characters, no leading dots, at most
 * 200 characters.
 *
 * @example
 * ```ts
 * safeFileName("../../etc/passwd"); // "_.._etc_passwd"
 * ```
 */
export function safeFileName(name: string, fallback = "download"): string {
  const cleaned = name.replace(UNSAFE_NAME, "_").replace(/^[.\s]+/, "").trim();
  const bounded = [...cleaned].slice(0, 200).join("").trim();
  return bounded === "" ? fallback : bounded;
}

/**
 * A short reason for a file-system error (Deno's messages repeat the path
 * and the syscall).
 *
 * @example
 * ```ts
 * fsErrorText(new Deno.errors.NotFound("stat '/x'")); // "no such file"
 * ```
 */
export function fsErrorText(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return ((error as Error)?.message ?? String(error)).replace(/ \(os error \d+\).*$/, "");
}
