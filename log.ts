/**
 * Structured logging: one JSON object per line on stdout, with a timestamp,
 * a level and an event name. Callers pass ids and sizes, never secrets,
 * tokens, keys or file bytes. Tests capture lines with a custom sink.
 */

/** Fields of one log line; values must be safe to publish. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Where log lines go. */
export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

/**
 * Creates a logger that writes JSON lines.
 *
 * @param sink Receives each serialised line; defaults to `console.log`.
 * @returns A logger.
 * @example
 * ```ts
 * const log = createLogger();
 * log.info("upload.accepted", { file_id: "f1", bytes: 42 });
 * ```
 */
export function createLogger(sink: (line: string) => void = console.log): Logger {
  const write = (level: string, event: string, fields: LogFields = {}) =>
    sink(JSON.stringify({ time: new Date().toISOString(), level, event, ...fields }));
  return {
    info: (event, fields) => write("info", event, fields),
    warn: (event, fields) => write("warn", event, fields),
    error: (event, fields) => write("error", event, fields),
  };
}

/** A logger that drops everything (for tests that do not inspect logs). */
export const silentLogger: Logger = createLogger(() => {});
