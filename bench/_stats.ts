/**
 * Private to bench/: medians, percentiles and throughput arithmetic shared by
 * every benchmark section.
 *
 * @module
 */

/** Bytes in a mebibyte. */
export const MIB = 1024 * 1024;

/** The median of the samples (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The nearest-rank percentile `p` (0–100) of the samples: p95 of 20 values is the 19th. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** Throughput in MiB/s of `bytes` moved in `ms` milliseconds. */
export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / MIB / (ms / 1000);
}

/** Runs `work` and returns how long it took in milliseconds, with its result. */
export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

/** Named samples collected over interleaved runs. */
export class Samples {
  readonly #values = new Map<string, number[]>();

  /** Adds one sample to the series `name`. */
  add(name: string, value: number): void {
    const series = this.#values.get(name) ?? [];
    series.push(value);
    this.#values.set(name, series);
  }

  /** The samples of `name` (empty if none). */
  of(name: string): number[] {
    return this.#values.get(name) ?? [];
  }

  /** The median of `name`. */
  median(name: string): number {
    return median(this.of(name));
  }

  /** Every series, for results.json. */
  toJSON(): Record<string, number[]> {
    return Object.fromEntries(
      [...this.#values].map(([name, values]) => [name, values.map(round3)]),
    );
  }
}

/** Rounds to 3 decimals (keeps results.json readable). */
export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Clock ticks per second of /proc/self/stat (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS = 100;

/**
 * CPU seconds (user + system, all threads) this process has used so far,
 * from /proc/self/stat in 10 ms ticks; NaN where there is no /proc.
 */
export function cpuSeconds(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
  } catch {
    return NaN;
  }
}
