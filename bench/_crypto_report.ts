/**
 * Private to bench/: section 1 of the results table from the crypto samples
 * (bench/crypto_bench.ts). The OpenSSL engine is compared with `openssl
 * speed`, the WebCrypto engine with its bare one-call loop (its old target)
 * and with `openssl speed` beside it.
 *
 * Each timed stream also records MiB per CPU-second of the benchmark process
 * (`*_cpu` series): `openssl speed` states its figure per CPU-second, so that
 * pair compares like with like where the machine is loaded and wall-clock
 * rates fall.
 *
 * @module
 */
import { OPENSSL_SPEED_COMMAND } from "./_openssl_speed.ts";
import { type Check, num, type Row, type SectionResult, sizeLabel, times } from "./_report.ts";
import { MIB, type Samples } from "./_stats.ts";

/** Encrypt or decrypt. */
export type Way = "encrypt" | "decrypt";
/** Both ways, in the order they run. */
export const WAYS: Way[] = ["encrypt", "decrypt"];
/** How the input arrives: like a file or an HTTP body, and in big reads. */
export const PIECES = [
  { name: "64k", label: "64 KiB", size: 64 * 1024 },
  { name: "1m", label: "1 MiB", size: MIB },
] as const;
type Piece = (typeof PIECES)[number];

/** What section 1 measured. */
export interface CryptoMeasured {
  mib: number;
  runs: number;
  speedSeconds: number;
  samples: Samples;
  /** Why the OpenSSL engine could not be loaded. */
  opensslMissing?: string;
  /** Why `openssl speed` could not be run. */
  speedMissing?: string;
}

function opensslRows(measured: CryptoMeasured, m: (name: string) => number): Row[] {
  const { mib, opensslMissing, speedMissing } = measured;
  const speed = m("openssl_speed");
  const speedText = speedMissing
    ? `\`openssl speed\` skipped: ${speedMissing}`
    : `\`openssl speed\` ${num(speed)} MiB/s (wall clock ${num(m("openssl_speed_wall"))})`;
  const row = (measure: string, series: string): Row => ({
    measure,
    coffer: opensslMissing ? "n/a" : num(m(series)),
    baseline: opensslMissing
      ? `OpenSSL engine unavailable: ${opensslMissing}`
      : `${speedText}; this process ${num(m(`${series}_cpu`))} MiB per CPU-second`,
    ratio: times(m(series) / speed),
  });
  return WAYS.flatMap((way) => [
    ...PIECES.map((piece: Piece) =>
      row(
        `${way} ${sizeLabel(mib)} stream, ${piece.label} pieces, OpenSSL engine, MiB/s`,
        `openssl_${way}_${piece.name}`,
      )
    ),
    row(
      `${way} ${sizeLabel(mib)}, OpenSSL engine alone (1 MiB batches, no stream), MiB/s`,
      `openssl_${way}_engine`,
    ),
  ]);
}

function webCryptoRows(mib: number, m: (name: string) => number): Row[] {
  return WAYS.flatMap((way) =>
    PIECES.map((piece: Piece) => {
      const series = `webcrypto_${way}_${piece.name}`;
      return {
        measure: `${way} ${sizeLabel(mib)} stream, ${piece.label} pieces, WebCrypto engine, MiB/s`,
        coffer: num(m(series)),
        baseline: `bare one-call loop ${num(m(`bare_${way}`))} MiB/s (16 calls in flight, ` +
          `no stream: ${num(m(`ceiling_${way}`))}); ${times(m(series) / m("openssl_speed"))} ` +
          "openssl speed",
        ratio: times(m(series) / m(`bare_${way}`)),
      };
    })
  );
}

function checks(measured: CryptoMeasured, m: (name: string) => number): Check[] {
  const { opensslMissing, speedMissing } = measured;
  const speed = m("openssl_speed");
  const opensslChecks = WAYS.map((way) => {
    const ratio = m(`openssl_${way}_64k`) / speed;
    return {
      target: `OpenSSL engine ${way} (64 KiB pieces) ≥ 0.6× \`openssl speed\``,
      measured: opensslMissing
        ? `engine unavailable: ${opensslMissing}`
        : speedMissing
        ? `\`openssl speed\` skipped: ${speedMissing}`
        : `${times(ratio)} (${num(m(`openssl_${way}_64k`))} vs ${num(speed)} MiB/s; per ` +
          `CPU-second ${times(m(`openssl_${way}_64k_cpu`) / speed)}); ` +
          `WebCrypto engine ${times(m(`webcrypto_${way}_64k`) / speed)}`,
      met: ratio >= 0.6,
    };
  });
  const webCryptoChecks = WAYS.map((way) => {
    const mibS = m(`webcrypto_${way}_64k`);
    const speedup = mibS / m(`bare_${way}`);
    return {
      target: `WebCrypto engine ${way} ≥ 500 MiB/s and ≥ 2× bare loop`,
      measured: `${num(mibS)} MiB/s, ${times(speedup)}`,
      met: mibS >= 500 && speedup >= 2,
    };
  });
  return [...opensslChecks, ...webCryptoChecks];
}

/**
 * Builds section 1.
 *
 * @param measured The samples and what could not be measured.
 * @returns The section.
 */
export function cryptoReport(measured: CryptoMeasured): SectionResult {
  const { mib, samples, speedMissing } = measured;
  const m = (name: string) => samples.median(name);
  const speedRow: Row = {
    measure: `\`${OPENSSL_SPEED_COMMAND}\` (one core, CPU time), MiB/s`,
    coffer: speedMissing ? "n/a" : num(m("openssl_speed")),
    baseline: speedMissing
      ? `skipped: ${speedMissing}`
      : `wall clock over the same runs: ${num(m("openssl_speed_wall"))} MiB/s`,
    ratio: "",
  };
  return {
    title: "1. Crypto (in memory)",
    rows: [speedRow, ...opensslRows(measured, m), ...webCryptoRows(mib, m)],
    checks: checks(measured, m),
    data: {
      mib,
      runs: measured.runs,
      openssl_speed_seconds: measured.speedSeconds,
      unit: "MiB/s (*_cpu: MiB per CPU-second of the benchmark process)",
      openssl_engine: measured.opensslMissing
        ? `unavailable: ${measured.opensslMissing}`
        : "loaded",
      openssl_speed: speedMissing ? `skipped: ${speedMissing}` : "measured",
      samples: samples.toJSON(),
    },
  };
}
