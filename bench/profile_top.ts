/**
 * Summarises a V8 CPU profile written by `deno run --cpu-prof` (or
 * `deno task bench --profile=DIR`, which profiles the server subprocesses):
 * the functions with the most self time, the most inclusive time, and self
 * time per package or source file.
 *
 *     deno run --allow-read bench/profile_top.ts FILE.cpuprofile [count]
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The parts of a `.cpuprofile` this tool reads. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self and inclusive milliseconds per function, and self milliseconds per source. */
export interface ProfileSummary {
  totalMs: number;
  self: [string, number][];
  inclusive: [string, number][];
  sources: [string, number][];
}

/** Where a URL comes from: an npm package, a Deno internal, or a file of this repo. */
function sourceOf(url: string): string {
  const npm = url.match(/node_modules\/\.deno\/([^/]+)\//);
  if (npm) return `npm:${npm[1].replace(/@[^@]*$/, "").replace("+", "/")}`;
  if (url.startsWith("ext:") || url.startsWith("node:")) return url.split("/")[0] + "…";
  const repo = url.match(/\/work\/[^/]+\/(.+)$/);
  return repo ? repo[1] : url || "(native)";
}

function label(frame: CallFrame): string {
  const name = frame.functionName || "(anonymous)";
  return frame.url ? `${name} ${sourceOf(frame.url)}:${frame.lineNumber + 1}` : name;
}

function top(map: Map<string, number>, count: number): [string, number][] {
  return [...map].sort((a, b) => b[1] - a[1]).slice(0, count);
}

/**
 * Summarises a profile.
 *
 * @param profile The parsed `.cpuprofile` JSON.
 * @param count How many entries of each list to keep.
 * @returns Self time, inclusive time and time per source, biggest first.
 */
export function summarize(profile: CpuProfile, count = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const sources = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of selfMs) {
    const frame = byId.get(id)!.callFrame;
    totalMs += ms;
    self.set(label(frame), (self.get(label(frame)) ?? 0) + ms);
    const source = frame.url ? sourceOf(frame.url) : frame.functionName;
    sources.set(source, (sources.get(source) ?? 0) + ms);
    const seen = new Set<string>(); // count recursion once
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = label(byId.get(at)!.callFrame);
      if (!seen.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
      seen.add(name);
    }
  }
  return {
    totalMs,
    self: top(self, count),
    inclusive: top(inclusive, count),
    sources: top(sources, count),
  };
}

if (import.meta.main) {
  const [file, count] = Deno.args;
  if (!file) {
    console.error("Usage: profile_top.ts FILE.cpuprofile [count]");
    Deno.exit(2);
  }
  const summary = summarize(JSON.parse(await Deno.readTextFile(file)), Number(count ?? 25));
  const show = (title: string, rows: [string, number][]) => {
    console.log(`\n${title}`);
    for (const [name, ms] of rows) {
      const share = ((ms / summary.totalMs) * 100).toFixed(1).padStart(5);
      console.log(`${ms.toFixed(0).padStart(8)} ms ${share}%  ${name}`);
    }
  };
  console.log(`${file}: ${summary.totalMs.toFixed(0)} ms sampled`);
  show("Self time by function", summary.self);
  show("Self time by source", summary.sources);
  show("Inclusive time by function", summary.inclusive);
}
