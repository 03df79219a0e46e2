import { loadavg } from "node:os";
import { summarise, type LatencySummary } from "../stats.js";
import { judgeGrowth, LIMITS, type GrowthLine, type Limits } from "./growth.js";
import { startSampler, type Sample, type Series } from "./sampler.js";
import { startSoakSystem } from "./system.js";
import { mixedTraffic, type TrafficOptions } from "./traffic.js";

export interface SoakOptions extends Omit<TrafficOptions, "url" | "seconds" | "userIdBase" | "onLoad"> {
  minutes: number;
  /** Samples in the load's first seconds are left out of the slopes (start-up, JIT, pools and heaps filling). */
  warmupSeconds: number;
  sampleSeconds: number;
  /** The no-growth limits (default LIMITS, the documented ones). */
  limits?: Limits;
}

export interface SoakReport {
  minutes: number;
  rate: number;
  warmupSeconds: number;
  sent: number;
  acked: number;
  ackedUnsaved: number;
  /** Sends refused or unanswered, history reads that failed, reconnects that never came back. */
  errors: number;
  refusals: Record<string, number>;
  heldBack: number;
  received: number;
  lost: number;
  duplicates: number;
  ack: LatencySummary;
  receive: LatencySummary;
  history: { reads: number; errors: number; latency: LatencySummary };
  reconnects: { done: number; errors: number };
  growth: GrowthLine[];
  /** Each server's CPU over the measured stretch, in % of one core. */
  cpu: { server: string; percent: number | undefined }[];
  /** The machine's 1, 5 and 15-minute load averages at the end (a busy machine starves the servers). */
  loadAverage: number[];
  /** True when no server's RSS, descriptors or event-loop lag grew past the limits. */
  pass: boolean;
  series: Series;
}

/** CPU used between the first and last sample with a reading, in % of one core. */
function cpuPercent(samples: Sample[]): number | undefined {
  const read = samples.filter((s) => s.cpuSeconds !== undefined);
  if (read.length < 2) return undefined;
  const first = read[0]!;
  const last = read.at(-1)!;
  return ((last.cpuSeconds! - first.cpuSeconds!) / ((last.at - first.at) / 1000)) * 100;
}

/** The warm-up when none is given: a fifth of the run, at least 30 s, at most 5 minutes and never over half the run. */
export const defaultWarmupSeconds = (minutes: number) => Math.min(300, minutes * 30, Math.max(30, minutes * 12));

/**
 * Starts the system as separate processes, runs mixed traffic for `minutes` while sampling
 * each server, stops everything, and judges growth over the samples after the warm-up.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const system = await startSoakSystem();
  try {
    const origin = Date.now();
    const sampler = startSampler(system.servers, options.sampleSeconds * 1000, origin);
    // The slopes cover the load only: not the start-up before it, nor the drain after it.
    const load = { start: 0, end: 0 };
    let traffic;
    try {
      traffic = await mixedTraffic({
        ...options,
        url: system.edgeUrl,
        seconds: options.minutes * 60,
        userIdBase: 1_000_000 + Math.floor(Math.random() * 1_000_000) * 100,
        onLoad: (phase) => (load[phase] = Date.now() - origin),
      });
    } finally {
      await sampler.stop();
    }
    const { ledger } = traffic;
    const from = load.start + options.warmupSeconds * 1000;
    const growth = judgeGrowth(sampler.series, from, load.end, options.limits ?? LIMITS);
    return {
      minutes: options.minutes,
      rate: options.rate,
      warmupSeconds: options.warmupSeconds,
      sent: ledger.sent,
      acked: ledger.ackedSaved,
      ackedUnsaved: ledger.ackedUnsaved,
      errors: ledger.ackErrors + traffic.history.errors + traffic.reconnects.errors,
      refusals: Object.fromEntries(ledger.refusals),
      heldBack: traffic.heldBack,
      received: ledger.received,
      lost: ledger.lost,
      duplicates: ledger.duplicates,
      ack: summarise(ledger.ackLatency),
      receive: summarise(ledger.receiveLatency),
      history: { reads: traffic.history.reads, errors: traffic.history.errors, latency: summarise(traffic.history.latency) },
      reconnects: traffic.reconnects,
      growth,
      cpu: [...sampler.series].map(([server, samples]) => ({ server, percent: cpuPercent(samples.filter((x) => x.at >= from && x.at <= load.end)) })),
      loadAverage: loadavg(),
      pass: growth.every((g) => g.ok),
      series: sampler.series,
    };
  } finally {
    await system.stop();
  }
}
