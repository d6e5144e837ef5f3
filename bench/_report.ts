/**
 * Private to bench/: what a benchmark section reports — table rows (Coffer
 * next to its baseline, with their ratio), target checks, and the raw samples
 * for results.json — and the Markdown rendering of all of it.
 *
 * @module
 */

/** One line of the results table. */
export interface Row {
  /** What was measured, with its size and unit. */
  measure: string;
  /** Coffer's median. */
  coffer: string;
  /** What it is compared with, and that median ("" when nothing is). */
  baseline: string;
  /** Coffer ÷ baseline (or as stated), from the same interleaved runs. */
  ratio: string;
}

/** One target of the issue, checked against the measured medians. */
export interface Check {
  target: string;
  measured: string;
  met: boolean;
}

/** What a section returns. */
export interface SectionResult {
  /** e.g. "3. Store (S3: fauxqs)". */
  title: string;
  rows: Row[];
  checks: Check[];
  /** Medians, samples and settings, written to results.json. */
  data: Record<string, unknown>;
}

/** A number with a sensible count of digits for the table. */
export function num(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return "n/a";
  const places = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toFixed(places);
}

/** A ratio such as "0.83×". */
export function times(value: number): string {
  return `${num(value, 2)}×`;
}

/** Bytes as decimal megabytes (the unit of the 300 MB target). */
export function megabytes(bytes: number): string {
  return `${num(bytes / 1e6, 0)} MB`;
}

/** A size in MiB or GiB for labels. */
export function sizeLabel(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

function escape(cell: string): string {
  return cell.replaceAll("|", "\\|");
}

function table(header: string[], lines: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...lines.map((line) => `| ${line.map(escape).join(" | ")} |`),
  ].join("\n");
}

/** The results table and the targets table, as Markdown. */
export function renderMarkdown(sections: SectionResult[]): string {
  const rows = sections.flatMap((section) =>
    section.rows.map((row, i) => [
      i === 0 ? `**${section.title}**` : "",
      row.measure,
      row.coffer,
      row.baseline,
      row.ratio,
    ])
  );
  const checks = sections.flatMap((section) =>
    section.checks.map((check) => [
      check.target,
      check.measured,
      check.met ? "met" : "**missed**",
    ])
  );
  return [
    table(["Section", "Measurement (median)", "Coffer", "Baseline (same runs)", "Ratio"], rows),
    "",
    table(["Target", "Measured", "Result"], checks),
  ].join("\n");
}
