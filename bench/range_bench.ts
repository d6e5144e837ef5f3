/**
 * Range latency: time to the first body byte of `Range: bytes=-1` (a suffix
 * range, which first authenticates the final chunk) and of a 1-byte range in
 * the middle, for a small and a large file side by side on one server
 * subprocess with the local store. Requests alternate between the two files,
 * so load changes hit both alike. One untimed request of each kind warms the
 * code path first.
 *
 * @module
 */
import { deleteFile, download, signUp, uploadRaw, waitStored } from "./_client.ts";
import { randomStream } from "./_data.ts";
import { startServer } from "./_processes.ts";
import { num, type SectionResult, sizeLabel, times } from "./_report.ts";
import { MIB, Samples } from "./_stats.ts";

/** Options of {@linkcode benchRange}. */
export interface RangeOptions {
  /** Small and large file sizes in MiB (64 and 1024 in the full run). */
  smallMib: number;
  largeMib: number;
  /** Timed requests of each kind per file. */
  runs: number;
  profileDir?: string;
}

/**
 * Measures range TTFB for both files.
 *
 * @returns Section 5 of the results table.
 */
export async function benchRange(options: RangeOptions): Promise<SectionResult> {
  const { smallMib, largeMib, runs } = options;
  const samples = new Samples();
  await using server = await startServer({ profileDir: options.profileDir });
  const user = await signUp(server.url);
  const files: { mib: number; id: string; size: number }[] = [];
  for (const mib of [smallMib, largeMib]) {
    const { record } = await uploadRaw(server.url, user, randomStream(mib * MIB), mib * MIB);
    await waitStored(server.url, user, record.id, 60_000 + mib * 1000);
    files.push({ mib, id: record.id, size: mib * MIB });
  }
  const kinds = {
    suffix: () => "-1",
    middle: (size: number) => `${size / 2}-${size / 2}`,
  };
  for (let run = -1; run < runs; run++) {
    for (const [kind, range] of Object.entries(kinds)) {
      for (const file of files) {
        const path = `/api/files/${file.id}/content`;
        const got = await download(server.url, user, path, range(file.size));
        if (got.bytes !== 1) throw new Error(`Cannot bench ranges: got ${got.bytes} bytes`);
        if (run >= 0) samples.add(`${kind}_${file.mib}`, got.ttfbMs);
      }
    }
  }
  for (const file of files) await deleteFile(server.url, user, file.id);

  const m = (name: string) => samples.median(name);
  const rows = Object.keys(kinds).map((kind) => ({
    measure: `TTFB \`bytes=${kind === "suffix" ? "-1" : "mid-mid"}\`, ${sizeLabel(largeMib)} vs ${
      sizeLabel(smallMib)
    }, ms`,
    coffer: num(m(`${kind}_${largeMib}`)),
    baseline: `${sizeLabel(smallMib)} file ${num(m(`${kind}_${smallMib}`))} ms`,
    ratio: times(m(`${kind}_${largeMib}`) / m(`${kind}_${smallMib}`)),
  }));
  const checks = Object.keys(kinds).map((kind) => {
    const ratio = m(`${kind}_${largeMib}`) / m(`${kind}_${smallMib}`);
    return {
      target: `Range TTFB (${kind === "suffix" ? "bytes=-1" : "middle byte"}) ${
        sizeLabel(largeMib)
      } ≤ 1.5× ${sizeLabel(smallMib)}`,
      measured: `${times(ratio)} (${num(m(`${kind}_${largeMib}`))} vs ${
        num(m(`${kind}_${smallMib}`))
      } ms)`,
      met: ratio <= 1.5,
    };
  });
  return {
    title: "5. Range latency (local store)",
    rows,
    checks,
    data: { smallMib, largeMib, runs, unit: "ms", samples: samples.toJSON() },
  };
}
