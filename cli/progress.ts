/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal
 * (scripts and logs get no carriage-return noise), redrawn at most ten times
 * a second:
 *
 * ```
 * upload  report.pdf  [███████████░░░░░░░░░]  56%  12.3 MiB / 22.0 MiB  8.1 MiB/s
 * ```
 *
 * @module
 */
import { formatBytes } from "./format.ts";

const REDRAW_MS = 100;
const BAR_WIDTH = 20;
const encoder = new TextEncoder();

/**
 * Renders one progress line (no carriage return).
 *
 * @param label What is happening and to what, e.g. `upload  a.txt`.
 * @param done Bytes done so far.
 * @param total Total bytes (0 for an empty file).
 * @param bytesPerSecond Current rate, or undefined before there is one.
 * @example
 * ```ts
 * renderProgress("upload  a.txt", 512, 1024, undefined);
 * // "upload  a.txt  [██████████░░░░░░░░░░]  50%  512 B / 1.0 KiB"
 * ```
 */
export function renderProgress(
  label: string,
  done: number,
  total: number,
  bytesPerSecond: number | undefined,
): string {
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = "█".repeat(filled) + "░".repeat(BAR_WIDTH - filled);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const rate = bytesPerSecond === undefined ? "" : `  ${formatBytes(bytesPerSecond)}/s`;
  return `${label}  [${bar}] ${percent}  ${formatBytes(done)} / ${formatBytes(total)}${rate}`;
}

function terminalWidth(): number {
  try {
    const { columns } = Deno.consoleSize();
    return columns >= 40 ? columns : 80; // 0 on pseudo-terminals without a size
  } catch {
    return 80;
  }
}

/** Shortens a label to `max` characters with an ellipsis. */
function shorten(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, Math.max(1, max - 1)).join("") + "…";
}

/** A progress bar for one transfer or job. */
export class ProgressBar {
  readonly #label: string;
  readonly #total: number;
  readonly #enabled: boolean;
  readonly #started = performance.now();
  #lastDraw = 0;
  #done = 0;

  /**
   * @param action What is happening (`upload`, `encrypt`, `download`, `decrypt`).
   * @param name The file's name.
   * @param total Total bytes.
   * @param enabled Draw at all (default: when stderr is a terminal).
   */
  constructor(action: string, name: string, total: number, enabled = Deno.stderr.isTerminal()) {
    this.#label = `${action.padEnd(8)}${shorten(name, 28)}`;
    this.#total = total;
    this.#enabled = enabled;
  }

  /** Sets the bytes done; redraws if enough time passed. */
  update(done: number): void {
    this.#done = done;
    const now = performance.now();
    if (now - this.#lastDraw >= REDRAW_MS) this.#draw(now);
  }

  /** Adds to the bytes done. */
  advance(bytes: number): void {
    this.update(this.#done + bytes);
  }

  /** Draws the final state and moves to the next line. */
  finish(): void {
    if (!this.#enabled) return;
    this.#draw(performance.now());
    Deno.stderr.writeSync(encoder.encode("\n"));
  }

  /** Erases the bar (on failure), leaving the cursor at the line start. */
  clear(): void {
    if (this.#enabled) Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
  }

  /** A pass-through stream that counts the bytes flowing through it. */
  counter(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream({
      transform: (chunk, controller) => {
        this.advance(chunk.length);
        controller.enqueue(chunk);
      },
    });
  }

  #draw(now: number): void {
    this.#lastDraw = now;
    if (!this.#enabled) return;
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0.5 ? this.#done / seconds : undefined;
    const line = shorten(
      renderProgress(this.#label, this.#done, this.#total, rate),
      terminalWidth() - 1,
    );
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
  }
}
