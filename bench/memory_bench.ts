/**
 * Memory: the peak resident set (VmHWM) of the Coffer server process during
 * one round trip — raw upload, worker encrypts and stores, decrypted download
 * — for a small and a large file. Every round trip gets a fresh server
 * subprocess (local store), so each peak belongs to that file alone; runs
 * alternate small and large.
 *
 * @module
 */
import { deleteFile, download, signUp, uploadRaw, waitStored } from "./_client.ts";
import { randomStream } from "./_data.ts";
import { startServer } from "./_processes.ts";
import { megabytes, type SectionResult, sizeLabel, times } from "./_report.ts";
import { MIB, Samples } from "./_stats.ts";

/** Options of {@linkcode benchMemory}. */
export interface MemoryOptions {
  /** Small and large file sizes in MiB (64 and 1024 in the full run). */
  smallMib: number;
  largeMib: number;
  runs: number;
}

/** The RSS target of the issue, in bytes. */
const RSS_LIMIT = 300e6;

async function roundTrip(mib: number, samples: Samples): Promise<void> {
  await using server = await startServer();
  const user = await signUp(server.url);
  samples.add(`idle_${mib}`, await server.rss());
  const { record } = await uploadRaw(server.url, user, randomStream(mib * MIB), mib * MIB);
  await waitStored(server.url, user, record.id, 60_000 + mib * 1000);
  const got = await download(server.url, user, `/api/files/${record.id}/content`);
  if (got.bytes !== mib * MIB) throw new Error(`Cannot bench memory: got ${got.bytes} bytes`);
  samples.add(`peak_${mib}`, await server.peakRss());
  await deleteFile(server.url, user, record.id);
}

/**
 * Measures the server's peak RSS for both sizes.
 *
 * @returns Section 6 of the results table.
 */
export async function benchMemory(options: MemoryOptions): Promise<SectionResult> {
  const { smallMib, largeMib, runs } = options;
  const samples = new Samples();
  for (let run = 0; run < runs; run++) {
    for (const mib of [smallMib, largeMib]) await roundTrip(mib, samples);
  }
  const small = samples.median(`peak_${smallMib}`);
  const large = samples.median(`peak_${largeMib}`);
  const ratio = large / small;
  return {
    title: "6. Memory (server subprocess, local store)",
    rows: [{
      measure: `peak RSS, ${sizeLabel(largeMib)} round trip vs ${sizeLabel(smallMib)}`,
      coffer: megabytes(large),
      baseline: `${sizeLabel(smallMib)} round trip ${megabytes(small)}; idle after start ${
        megabytes(samples.median(`idle_${largeMib}`))
      }`,
      ratio: times(ratio),
    }],
    checks: [
      {
        target: `Peak RSS ${sizeLabel(largeMib)} ≤ 1.25× ${sizeLabel(smallMib)}`,
        measured: `${times(ratio)} (${megabytes(large)} vs ${megabytes(small)})`,
        met: ratio <= 1.25,
      },
      {
        target: `Peak RSS ${sizeLabel(largeMib)} < 300 MB`,
        measured: megabytes(large),
        met: large < RSS_LIMIT,
      },
    ],
    data: { smallMib, largeMib, runs, unit: "bytes", samples: samples.toJSON() },
  };
}
