/**
 * Concurrency: `users` users each upload one file at the same moment (raw
 * body) to a server subprocess on S3 with its default worker concurrency.
 * Per run: total MiB/s (all bytes ÷ time from the start until the last file
 * is stored) and the p50/p95 of each user's time from the start of the
 * upload to `stored_at`. The server's clock and ours are the same machine's.
 *
 * @module
 */
import { type BenchUser, deleteFile, signUp, uploadRaw, waitStored } from "./_client.ts";
import { randomStream } from "./_data.ts";
import { type S3Endpoint, startServer } from "./_processes.ts";
import { num, type SectionResult, sizeLabel } from "./_report.ts";
import { MIB, mibPerSecond, percentile, Samples } from "./_stats.ts";

/** Options of {@linkcode benchConcurrency}. */
export interface ConcurrencyOptions {
  users: number;
  /** Size of each user's file in MiB. */
  mib: number;
  runs: number;
  s3: S3Endpoint;
  profileDir?: string;
}

/**
 * Runs the concurrent uploads.
 *
 * @returns Section 7 of the results table.
 */
export async function benchConcurrency(options: ConcurrencyOptions): Promise<SectionResult> {
  const { users: count, mib, runs, s3 } = options;
  const bytes = mib * MIB;
  const samples = new Samples();
  await using server = await startServer({ s3, profileDir: options.profileDir });
  const { url } = server;
  const users: BenchUser[] = [];
  for (let i = 0; i < count; i++) users.push(await signUp(url));
  const waitMs = 60_000 + count * mib * 1000;

  for (let run = 0; run < runs; run++) {
    const start = Date.now();
    const accepted = await Promise.all(
      users.map((user) => uploadRaw(url, user, randomStream(bytes), bytes)),
    );
    const stored = await Promise.all(
      accepted.map(({ record }, i) => waitStored(url, users[i], record.id, waitMs, 250)),
    );
    const toStored = stored.map((record) => Date.parse(record.stored_at!) - start);
    samples.add("total_mib_s", mibPerSecond(count * bytes, Math.max(...toStored)));
    samples.add("p50_ms", percentile(toStored, 50));
    samples.add("p95_ms", percentile(toStored, 95));
    samples.add("accept_p50_ms", percentile(accepted.map((a) => a.ms), 50));
    await Promise.all(stored.map((record, i) => deleteFile(url, users[i], record.id)));
  }

  const m = (name: string) => samples.median(name);
  const what = `${count} users × ${sizeLabel(mib)} at once`;
  return {
    title: "7. Concurrency (S3: fauxqs)",
    rows: [
      {
        measure: `${what}: total MiB/s to stored`,
        coffer: num(m("total_mib_s")),
        baseline: "",
        ratio: "",
      },
      {
        measure: `${what}: time to stored p50 / p95, ms`,
        coffer: `${num(m("p50_ms"), 0)} / ${num(m("p95_ms"), 0)}`,
        baseline: "",
        ratio: "",
      },
    ],
    checks: [],
    data: { users: count, mib, runs, samples: samples.toJSON() },
  };
}
