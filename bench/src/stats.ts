import { build, type Histogram } from "hdr-histogram-js";
import { readdirSync, readFileSync } from "node:fs";

/** A latency histogram in microseconds (HdrHistogram, pure JS), summarised in milliseconds. */
export function latencyHistogram(): Histogram {
  return build({ useWebAssembly: false, lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarise(h: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  };
}

/** Microseconds since an arbitrary origin, for latencies measured in this process. */
export const nowUs = () => Number(process.hrtime.bigint() / 1000n);

export interface ProcessSample {
  pid: number;
  name: string;
  cpuSeconds: number;
  rssBytes: number;
}

const TICKS = 100; // USER_HZ on Linux

/** CPU time and RSS of a process, from /proc. */
export function sampleProcess(pid: number, name: string): ProcessSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return { pid, name, cpuSeconds, rssBytes: Number(rss?.[1] ?? 0) * 1024 };
  } catch {
    return undefined;
  }
}

/** The RedUP server processes on this machine: node processes running a RedUP entry point. */
export function findServerProcesses(): { pid: number; name: string }[] {
  const found: { pid: number; name: string }[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ");
      const match = /(services\/(rooms|messages|delivery|edge)|apps\/standalone)\/dist\/main\.js/.exec(cmd);
      if (match) found.push({ pid: Number(entry), name: match[2] ?? "standalone" });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}
