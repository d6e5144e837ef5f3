/**
 * Section 10: a resumable (tus) upload next to the single-request upload of
 * the same file, both timed from the start of the upload until the record
 * reads `stored` (polled), on one Coffer server subprocess with the local
 * store and the default crypto engine. The tus upload is the CLI's own
 * (`uploadResumable` in cli/tus_upload.ts: tus-js-client's Node build,
 * 50 MiB chunks, each PATCH with its Content-Length, the file read from
 * disk); the single request is the CLI's node:http client posting the same
 * file as a raw body. The two alternate in order run by run, after one
 * untimed pair.
 *
 * @module
 */
import { join } from "node:path";
import { CHUNK_BYTES, uploadResumable } from "../cli/tus_upload.ts";
import { type BenchUser, deleteFile, signUp, uploadRawCli, waitStored } from "./_client.ts";
import { randomStream, writeFileDirect } from "./_data.ts";
import { type ServerProcess, startServer, tracked } from "./_processes.ts";
import { type Check, num, type Row, type SectionResult, sizeLabel, times } from "./_report.ts";
import { MIB, mibPerSecond, Samples } from "./_stats.ts";

/** Options of {@linkcode benchTus}. */
export interface TusOptions {
  /** File size in MiB. */
  mib: number;
  runs: number;
  /** Profile the server subprocess into this directory. */
  profileDir?: string;
}

/** The target: tus → stored at least this fraction of the single request's rate. */
const TARGET_RATIO = 0.9;

/** What one timed upload needs. */
interface Upload {
  server: ServerProcess;
  user: BenchUser;
  /** The payload as a file. */
  source: string;
  bytes: number;
  /** A fresh directory per tus upload, so `uploads.json` never resumes an earlier one. */
  configDir: string;
}

const waitMsOf = (upload: Upload) => 60_000 + (upload.bytes / MIB) * 1000;

/** The file as one raw POST through the CLI's client, until stored; returns ms. */
async function single(upload: Upload): Promise<{ ms: number; id: string }> {
  const start = performance.now();
  using file = await Deno.open(upload.source, { read: true });
  const posted = await uploadRawCli(upload.server.url, upload.user, file.readable, upload.bytes);
  await waitStored(upload.server.url, upload.user, posted.record.id, waitMsOf(upload));
  return { ms: performance.now() - start, id: posted.record.id };
}

/** The file through `uploadResumable` (50 MiB PATCHes), until stored; returns ms. */
async function resumable(upload: Upload): Promise<{ ms: number; id: string }> {
  const start = performance.now();
  let resumedAt: number | undefined;
  // Not AbortSignal.timeout: its timer would keep the bench process alive after the run.
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new Error("tus upload timed out")),
    waitMsOf(upload),
  );
  const id = await uploadResumable({
    server: upload.server.url,
    token: () => Promise.resolve(upload.user.token),
    path: upload.source,
    name: "bench.bin",
    type: "application/octet-stream",
    configDir: upload.configDir,
    signal: deadline.signal,
    onProgress: () => {},
    onResumed: (offset) => resumedAt = offset,
  }, "Cannot bench the tus upload").finally(() => clearTimeout(timer));
  if (resumedAt !== undefined) throw new Error(`Cannot bench tus: resumed at ${resumedAt}`);
  await waitStored(upload.server.url, upload.user, id, waitMsOf(upload));
  return { ms: performance.now() - start, id };
}

function report(mib: number, runs: number, samples: Samples): SectionResult {
  const tus = samples.median("tus_to_stored_mib_s");
  const one = samples.median("single_to_stored_mib_s");
  const label = sizeLabel(mib);
  const chunks = `${CHUNK_BYTES / MIB} MiB chunks`;
  const rows: Row[] = [{
    measure: `tus upload of ${label} in ${chunks} → stored (CLI's tus client), MiB/s`,
    coffer: num(tus),
    baseline: `one raw POST, CLI client (node:http) → stored ${num(one)} MiB/s`,
    ratio: times(tus / one),
  }];
  const checks: Check[] = [{
    target: `tus upload → stored ≥ ${TARGET_RATIO}× single-request upload → stored`,
    measured: `${times(tus / one)} (${num(tus)} vs ${num(one)} MiB/s)`,
    met: tus / one >= TARGET_RATIO,
  }];
  return {
    title: "10. Resumable upload (tus, local store)",
    rows,
    checks,
    data: { mib, runs, chunk_bytes: CHUNK_BYTES, samples: samples.toJSON() },
  };
}

/**
 * Runs the tus-vs-single-request measurement.
 *
 * @returns Section 10 of the results table.
 */
export async function benchTus(options: TusOptions): Promise<SectionResult> {
  const { mib, runs } = options;
  const bytes = mib * MIB;
  const samples = new Samples();
  await using stack = new AsyncDisposableStack();
  const dir = await Deno.makeTempDir({ prefix: "coffer-bench-tus-" });
  stack.defer(tracked(() => Deno.remove(dir, { recursive: true }).catch(() => {})));
  const source = join(dir, "source.bin");
  await writeFileDirect(source, randomStream(bytes));
  const server = stack.use(await startServer({ profileDir: options.profileDir }));
  const user = await signUp(server.url);
  const measures = [
    { series: "single_to_stored_mib_s", run: single },
    { series: "tus_to_stored_mib_s", run: resumable },
  ];
  // Run -1 is untimed: it loads tus-js-client and warms both paths up.
  for (let index = -1; index < runs; index++) {
    for (const measure of index % 2 ? [...measures].reverse() : measures) {
      const configDir = join(dir, `config-${index}-${measure.series}`);
      const done = await measure.run({ server, user, source, bytes, configDir });
      if (index >= 0) samples.add(measure.series, mibPerSecond(bytes, done.ms));
      await deleteFile(server.url, user, done.id);
    }
  }
  const result = report(mib, runs, samples);
  result.data.engine = server.engine;
  return result;
}

if (import.meta.main) {
  const { renderMarkdown } = await import("./_report.ts");
  const [mib = "256", runs = "3"] = Deno.args;
  console.log(renderMarkdown([await benchTus({ mib: Number(mib), runs: Number(runs) })]));
}
