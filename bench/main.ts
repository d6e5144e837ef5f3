/**
 * `deno task bench`: Coffer's throughput, latency and memory next to
 * baselines measured in the same interleaved runs, against a real Redis,
 * Coffer server subprocesses (OpenSSL and WebCrypto engines), fauxqs in its
 * own process, the local store, `openssl speed`, the CLI as a process and
 * its tus client, and rclone and s3rver where they can be had.
 * Prints a Markdown table (and the targets, met or missed) and writes
 * bench/results.json. Every figure is the median of at least 3 runs.
 *
 *     deno task bench                 # full sizes (256 MiB, 1 GiB); several minutes
 *     deno task bench --quick         # small sizes, under a minute
 *     deno task bench --only=3,4      # some sections (1–10)
 *     deno task bench --profile=DIR   # CPU-profile every server subprocess into DIR
 *
 * @module
 */
import { parseArgs } from "node:util";
import { benchCliDecrypt } from "./cli_decrypt_bench.ts";
import { benchConcurrency } from "./concurrency_bench.ts";
import { benchCrypto } from "./crypto_bench.ts";
import { benchMemory } from "./memory_bench.ts";
import { benchPipeline } from "./pipeline_bench.ts";
import { startFauxqsProcess, stopAllProcesses } from "./_processes.ts";
import { benchRange } from "./range_bench.ts";
import { benchRclone } from "./rclone_bench.ts";
import { benchTus } from "./tus_bench.ts";
import { num, renderMarkdown, type SectionResult } from "./_report.ts";

const FULL = {
  cryptoMib: 256,
  pipelineMib: 256,
  rangeMib: [64, 1024],
  memoryMib: [64, 1024],
  users: 20,
  userMib: 10,
  runs: 3,
  rangeRuns: 5,
  speedSeconds: 3,
  cliMib: 256,
  tusRuns: 5,
};
const QUICK: typeof FULL = {
  cryptoMib: 16,
  pipelineMib: 16,
  rangeMib: [4, 64],
  memoryMib: [4, 32],
  users: 5,
  userMib: 2,
  runs: 3,
  rangeRuns: 3,
  speedSeconds: 1,
  cliMib: 16,
  tusRuns: 3,
};

async function machine() {
  const meminfo = await Deno.readTextFile("/proc/meminfo");
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return {
    cores: navigator.hardwareConcurrency,
    cpu: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown",
    mem_total_mib: Math.round(Number(meminfo.match(/^MemTotal:\s+(\d+)/m)?.[1]) / 1024),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
  };
}

const loadAverage = async () => (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3);

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      profile: { type: "string" },
    },
  });
  const settings = values.quick ? QUICK : FULL;
  const only = new Set((values.only ?? "1,2,3,4,5,6,7,8,9,10").split(",").map(Number));
  const profileDir = values.profile;
  if (profileDir) await Deno.mkdir(profileDir, { recursive: true });
  const started = new Date();
  const loadStart = await loadAverage();
  const sections: SectionResult[] = [];
  const step = async (name: string, run: () => Promise<SectionResult | SectionResult[]>) => {
    const begin = performance.now();
    console.error(`bench: ${name}…`);
    sections.push(...[await run()].flat());
    console.error(`bench: ${name} done in ${num((performance.now() - begin) / 1000)} s`);
  };

  if (only.has(1)) {
    await step("crypto", () =>
      benchCrypto({
        mib: settings.cryptoMib,
        runs: settings.runs,
        speedSeconds: settings.speedSeconds,
      }));
  }
  const needS3 = [2, 3, 4, 7].some((n) => only.has(n));
  {
    await using s3 = needS3 ? await startFauxqsProcess() : undefined;
    if (s3 && [2, 3, 4].some((n) => only.has(n))) {
      await step("ingest, store, download", async () => {
        const all = await benchPipeline({
          mib: settings.pipelineMib,
          runs: settings.runs,
          s3,
          profileDir,
        });
        return all.filter((_, i) => only.has(i + 2));
      });
    }
    if (only.has(5)) {
      const [smallMib, largeMib] = settings.rangeMib;
      await step(
        "range latency",
        () => benchRange({ smallMib, largeMib, runs: settings.rangeRuns, profileDir }),
      );
    }
    if (only.has(6)) {
      const [smallMib, largeMib] = settings.memoryMib;
      await step("memory", () => benchMemory({ smallMib, largeMib, runs: settings.runs }));
    }
    if (s3 && only.has(7)) {
      await step("concurrency", () =>
        benchConcurrency({
          users: settings.users,
          mib: settings.userMib,
          runs: settings.runs,
          s3,
          profileDir,
        }));
    }
  }

  if (only.has(8)) {
    await step("cli decrypt", () =>
      benchCliDecrypt({
        mib: settings.cliMib,
        runs: settings.runs,
        speedSeconds: settings.speedSeconds,
      }));
  }
  if (only.has(9)) {
    await step(
      "rclone",
      () => benchRclone({ mib: settings.pipelineMib, runs: settings.runs, profileDir }),
    );
  }
  if (only.has(10)) {
    await step(
      "tus",
      () => benchTus({ mib: settings.pipelineMib, runs: settings.tusRuns, profileDir }),
    );
  }

  const results = {
    date: started.toISOString(),
    mode: values.quick ? "quick" : "full",
    duration_s: Math.round((Date.now() - started.getTime()) / 1000),
    machine: await machine(),
    load_average: { start: loadStart, end: await loadAverage() },
    settings,
    sections,
  };
  await Deno.writeTextFile(
    new URL("./results.json", import.meta.url),
    JSON.stringify(results, null, 2) + "\n",
  );
  const { machine: m, load_average: load } = results;
  console.log(
    `Coffer benchmarks (${results.mode}), ${results.date}: ${m.cores} cores, ${m.mem_total_mib} MiB RAM, ` +
      `Deno ${m.deno}; load average ${load.start.join(" ")} at start, ${
        load.end.join(" ")
      } at end\n`,
  );
  console.log(renderMarkdown(sections));
}

if (import.meta.main) {
  const interrupted = async () => {
    console.error("bench: interrupted, stopping subprocesses");
    await stopAllProcesses();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  Deno.addSignalListener("SIGTERM", interrupted);
  await main();
  Deno.removeSignalListener("SIGINT", interrupted);
  Deno.removeSignalListener("SIGTERM", interrupted);
}
