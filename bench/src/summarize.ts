/**
 * Medians of a series of bench runs: reads every `<series>-<n>.json` in a folder (the JSON
 * line each run prints) and prints, per series, every figure as `median (run, run, run)`.
 * Arrays of named entries (the processes of the measured window) are keyed by name; other
 * arrays (per-second timelines) are left out.
 *   node bench/dist/summarize.js bench/results-<commit>
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every numeric leaf of a run, by dotted path. */
function flatten(value: Json, path: string, into: Map<string, number>): void {
  if (typeof value === "number") into.set(path, value);
  else if (Array.isArray(value)) {
    for (const item of value) {
      if (item && typeof item === "object" && !Array.isArray(item) && typeof item["name"] === "string") flatten(item, `${path}.${item["name"]}`, into);
    }
  } else if (value && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) flatten(child, path ? `${path}.${key}` : key, into);
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function main(dir: string): void {
  const runs = new Map<string, Map<string, number>[]>();
  for (const file of readdirSync(dir).filter((f) => /-\d+\.json$/.test(f)).sort()) {
    const series = file.replace(/-\d+\.json$/, "");
    const text = readFileSync(join(dir, file), "utf8").trim();
    if (!text.startsWith("{")) {
      process.stdout.write(`${file}: no result (the run failed)\n`);
      continue;
    }
    const figures = new Map<string, number>();
    flatten(JSON.parse(text) as Json, "", figures);
    runs.set(series, [...(runs.get(series) ?? []), figures]);
  }
  for (const [series, list] of runs) {
    process.stdout.write(`\n## ${series} (${list.length} runs)\n`);
    for (const key of list[0]!.keys()) {
      const values = list.map((r) => r.get(key)).filter((v): v is number => v !== undefined);
      const round = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
      process.stdout.write(`${key.padEnd(48)} ${round(median(values)).padStart(10)}  (${values.map(round).join(", ")})\n`);
    }
  }
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: node bench/dist/summarize.js <results folder>\n");
  process.exit(2);
}
main(dir);
