import { build, type Histogram } from "hdr-histogram-js";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

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

/** A process whose CPU the bench reports: a RedUP server, PostgreSQL (all its processes) or NATS. */
export interface WatchedProcess {
  pid: number;
  name: string;
}

/**
 * The processes of the system under test on this machine: node processes running a RedUP
 * entry point (several replicas of a service are told apart as messages#1, messages#2...),
 * every PostgreSQL process (summed as "postgres") and nats-server.
 */
export function findServerProcesses(): WatchedProcess[] {
  const found: WatchedProcess[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return found;
  }
  const seen = new Map<string, number>();
  for (const entry of entries.filter((e) => /^\d+$/.test(e)).sort((a, b) => Number(a) - Number(b))) {
    if (Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ");
      const comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      const match = /(services\/(rooms|messages|delivery|edge)|(?:packages|apps)\/standalone)\/dist\/main\.js/.exec(cmd);
      // Servers of this checkout only (start-system.sh starts them from its root, as the bench runs).
      if (match && readlinkSync(`/proc/${entry}/cwd`) === process.cwd()) {
        const base = match[2] ?? "standalone";
        const n = (seen.get(base) ?? 0) + 1;
        seen.set(base, n);
        found.push({ pid: Number(entry), name: n === 1 ? base : `${base}#${n}` });
      } else if (comm === "postgres") {
        found.push({ pid: Number(entry), name: "postgres" });
      } else if (comm === "nats-server") {
        found.push({ pid: Number(entry), name: "nats" });
      }
    } catch {
      // The process ended while we looked.
    }
  }
  // The first replica of a service keeps the plain name; if there are several, number it too.
  for (const [base, n] of seen) if (n > 1) found.find((p) => p.name === base)!.name = `${base}#1`;
  return found;
}

/** CPU seconds and RSS by process name (PostgreSQL's processes summed), plus this process (the load generator). */
export interface CpuSnapshot {
  at: number;
  byName: Map<string, { cpuSeconds: number; rssBytes: number }>;
  /** The whole machine's busy and total CPU seconds (all cores), from /proc/stat. */
  machine: { busy: number; total: number } | undefined;
}

/** The machine's CPU time so far, from /proc/stat's first line (every core). */
function machineCpu(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0) / TICKS;
    const idle = ((fields[3] ?? 0) + (fields[4] ?? 0)) / TICKS; // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

export function snapshot(processes: WatchedProcess[]): CpuSnapshot {
  const byName = new Map<string, { cpuSeconds: number; rssBytes: number }>();
  for (const p of processes) {
    const s = sampleProcess(p.pid, p.name);
    if (!s) continue;
    const sum = byName.get(p.name) ?? { cpuSeconds: 0, rssBytes: 0 };
    sum.cpuSeconds += s.cpuSeconds;
    sum.rssBytes += s.rssBytes;
    byName.set(p.name, sum);
  }
  const own = process.cpuUsage();
  byName.set("load generator", { cpuSeconds: (own.user + own.system) / 1e6, rssBytes: process.memoryUsage().rss });
  return { at: performance.now(), byName, machine: machineCpu() };
}

/**
 * The measured stretch of a scenario (the load itself, not connecting or draining): CPU used
 * by each process between start() and stop().
 */
export class CpuWindow {
  private first: CpuSnapshot | undefined;
  private last: CpuSnapshot | undefined;
  private processes: WatchedProcess[] = [];

  /** `find` lists the processes to watch; asked again at start (database connections open lazily). */
  constructor(private readonly find: () => WatchedProcess[]) {}

  start(): void {
    this.processes = this.find();
    this.first = snapshot(this.processes);
  }

  stop(): void {
    if (this.first && !this.last) this.last = snapshot(this.processes);
  }

  /**
   * Seconds measured, CPU seconds per process name, and the machine's busy and total CPU
   * seconds (so CPU used by anything else on the machine shows); undefined when never started.
   */
  result(): { seconds: number; cpu: { name: string; cpuSeconds: number; rssBytes: number }[]; machine?: { busySeconds: number; totalSeconds: number } } | undefined {
    if (!this.first) return undefined;
    const last = this.last ?? snapshot(this.processes);
    const cpu = [...last.byName].map(([name, end]) => ({
      name,
      cpuSeconds: Math.max(0, end.cpuSeconds - (this.first!.byName.get(name)?.cpuSeconds ?? 0)),
      rssBytes: end.rssBytes,
    }));
    const a = this.first.machine;
    const b = last.machine;
    return { seconds: (last.at - this.first.at) / 1000, cpu, ...(a && b ? { machine: { busySeconds: b.busy - a.busy, totalSeconds: b.total - a.total } } : {}) };
  }
}
