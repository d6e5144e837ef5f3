/**
 * Private to bench/: sections 2–4 of the results table from the pipeline
 * samples (bench/pipeline_bench.ts). Every ratio of the OpenSSL-engine server
 * is shown with the WebCrypto-engine server's ratio beside it, from the same
 * interleaved runs.
 *
 * @module
 */
import { type Check, num, type Row, type SectionResult, sizeLabel, times } from "./_report.ts";
import type { Samples } from "./_stats.ts";

/** One server configuration of the pipeline benchmark. */
export interface Target {
  /** `s3_openssl` etc.: the suffix of its sample names. */
  name: string;
  store: "s3" | "local";
  engine: "openssl" | "webcrypto";
}

type Engine = Target["engine"];
const ENGINES: Engine[] = ["openssl", "webcrypto"];
const ENGINE_LABEL = { openssl: "OpenSSL", webcrypto: "WebCrypto" } as const;
const STORE_LABEL = { s3: "S3: fauxqs", local: "local store" } as const;

/** A target check on the OpenSSL server, with the WebCrypto server's ratio beside it. */
function engineCheck(
  m: (name: string) => number,
  target: string,
  a: (engine: Engine) => string,
  b: (engine: Engine) => string,
  min: number,
  aim?: number,
): Check {
  const ratio = (engine: Engine) => m(a(engine)) / m(b(engine));
  const value = ratio("openssl");
  const aimText = aim === undefined ? "" : `; aim ${aim}: ${value >= aim ? "reached" : "not yet"}`;
  return {
    target: `${target}, OpenSSL engine`,
    measured: `${times(value)} (${num(m(a("openssl")))} vs ${num(m(b("openssl")))} MiB/s)` +
      `${aimText}; WebCrypto engine ${times(ratio("webcrypto"))}`,
    met: value >= min,
  };
}

function ingestRows(label: string, m: (name: string) => number): Row[] {
  const direct = `direct file write ${num(m("ingest_direct_mib_s"))} MiB/s`;
  const row = (measure: string, series: string): Row => ({
    measure,
    coffer: num(m(series)),
    baseline: direct,
    ratio: times(m(series) / m("ingest_direct_mib_s")),
  });
  return [
    row(`POST raw body ${label} → 202, MiB/s`, "ingest_raw_s3_openssl"),
    row(`POST multipart ${label} → 202, MiB/s`, "ingest_multipart_mib_s"),
    row(`POST raw body ${label} via the CLI's client (node:http) → 202, MiB/s`, "ingest_cli_mib_s"),
  ];
}

function storeRows(label: string, m: (name: string) => number): Row[] {
  const baseline = {
    s3: ["s3_put_mib_s", "raw multipart put"],
    local: ["copy_fsync_mib_s", "file copy + fdatasync"],
  } as const;
  return (["s3", "local"] as const).flatMap((store) =>
    ENGINES.map((engine) => {
      const [series, what] = baseline[store];
      const coffer = m(`store_${store}_${engine}`);
      return {
        measure: `worker queued → stored ${label}, ${STORE_LABEL[store]}, ` +
          `${ENGINE_LABEL[engine]} engine, MiB/s`,
        coffer: num(coffer),
        baseline: `${what} ${num(m(series))} MiB/s`,
        ratio: times(coffer / m(series)),
      };
    })
  );
}

function downloadRows(label: string, m: (name: string) => number): Row[] {
  const rows: Row[] = [];
  for (const store of ["s3", "local"] as const) {
    for (const engine of ENGINES) {
      const name = `${store}_${engine}`;
      rows.push({
        measure: `GET /content (decrypted) ${label}, ${STORE_LABEL[store]}, ` +
          `${ENGINE_LABEL[engine]} engine, MiB/s`,
        coffer: num(m(`content_${name}`)),
        baseline: `GET /ciphertext of the same file ${num(m(`ciphertext_${name}`))} MiB/s`,
        ratio: times(m(`content_${name}`) / m(`ciphertext_${name}`)),
      });
    }
  }
  rows.push({
    measure: `GET /ciphertext ${label}, S3: fauxqs, OpenSSL-engine server, MiB/s`,
    coffer: num(m("ciphertext_s3_openssl")),
    baseline: `raw ranged GET ${num(m("s3_get_mib_s"))} MiB/s`,
    ratio: times(m("ciphertext_s3_openssl") / m("s3_get_mib_s")),
  });
  return rows;
}

/**
 * Builds sections 2, 3 and 4.
 *
 * @param mib The file size.
 * @param runs Runs made.
 * @param samples Everything measured.
 */
export function pipelineReport(mib: number, runs: number, samples: Samples): SectionResult[] {
  const m = (name: string) => samples.median(name);
  const label = sizeLabel(mib);
  const data = { mib, runs, unit: "MiB/s", samples: samples.toJSON() };
  const simpleCheck = (target: string, a: string, b: string, min: number): Check => ({
    target,
    measured: `${times(m(a) / m(b))} (${num(m(a))} vs ${num(m(b))} MiB/s)`,
    met: m(a) / m(b) >= min,
  });
  return [{
    title: "2. Upload ingest (S3, OpenSSL-engine server)",
    rows: ingestRows(label, m),
    checks: [
      simpleCheck(
        "Ingest (raw body) ≥ 0.8× direct write",
        "ingest_raw_s3_openssl",
        "ingest_direct_mib_s",
        0.8,
      ),
      simpleCheck(
        "Ingest (multipart) ≥ 0.8× direct write",
        "ingest_multipart_mib_s",
        "ingest_direct_mib_s",
        0.8,
      ),
    ],
    data,
  }, {
    title: "3. Store (S3: fauxqs; local store)",
    rows: storeRows(label, m),
    checks: [
      engineCheck(
        m,
        "Store (local) ≥ 0.4× file copy + fdatasync",
        (engine) => `store_local_${engine}`,
        () => "copy_fsync_mib_s",
        0.4,
        0.5,
      ),
      engineCheck(
        m,
        "Store (S3) ≥ 0.8× raw upload (issue 10)",
        (engine) => `store_s3_${engine}`,
        () => "s3_put_mib_s",
        0.8,
      ),
    ],
    data,
  }, {
    title: "4. Download (S3: fauxqs; local store)",
    rows: downloadRows(label, m),
    checks: [
      ...(["s3", "local"] as const).map((store) =>
        engineCheck(
          m,
          `Decrypted download ≥ 0.7× /ciphertext (${STORE_LABEL[store]})`,
          (engine) => `content_${store}_${engine}`,
          (engine) => `ciphertext_${store}_${engine}`,
          0.7,
          0.85,
        )
      ),
      engineCheck(
        m,
        "Decrypted download ≥ 0.8× raw GET (S3, issue 10)",
        (engine) => `content_s3_${engine}`,
        () => "s3_get_mib_s",
        0.8,
      ),
    ],
    data,
  }];
}
