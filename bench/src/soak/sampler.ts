import { readdirSync } from "node:fs";
import { sampleProcess } from "../stats.js";
import type { ServerProcess } from "./system.js";

/** One reading of one server. */
export interface Sample {
  /** Milliseconds since the soak started. */
  at: number;
  rssBytes: number | undefined;
  fds: number | undefined;
  /** CPU seconds used so far (user + system), to tell a starved server from a busy one. */
  cpuSeconds: number | undefined;
  /** The event loop's p99 delay since the previous scrape, in seconds (prom-client resets its histogram on each collect). */
  lagP99Seconds: number | undefined;
}

export type Series = Map<string, Sample[]>;

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** `…nodejs_eventloop_lag_p99_seconds` from a Prometheus exposition, whatever prefix the service gives it. */
export function lagP99(exposition: string): number | undefined {
  const line = /^\w*nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? (\S+)$/m.exec(exposition);
  return line ? Number(line[1]) : undefined;
}

async function sampleOne(server: ServerProcess, at: number): Promise<Sample> {
  const read = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch {
      return undefined; // the process is gone: a gap in its series, and the report says so
    }
  };
  const exposition = await fetch(server.metricsUrl, { signal: AbortSignal.timeout(5000) }).then(
    (r) => (r.ok ? r.text() : undefined),
    () => undefined,
  );
  const proc = sampleProcess(server.pid, server.name);
  return { at, rssBytes: proc?.rssBytes, cpuSeconds: proc?.cpuSeconds, fds: read(() => fds(server.pid)), lagP99Seconds: exposition === undefined ? undefined : lagP99(exposition) };
}

/** Samples every server every `intervalMs` until stopped; the series are keyed by server name. */
export function startSampler(servers: ServerProcess[], intervalMs: number, origin: number): { series: Series; stop(): Promise<void> } {
  const series: Series = new Map(servers.map((s) => [s.name, []]));
  let busy: Promise<void> = Promise.resolve();
  const tick = () => {
    // One round at a time: a slow scrape delays the next round rather than piling up.
    busy = busy.then(async () => {
      const at = Date.now() - origin;
      const samples = await Promise.all(servers.map((s) => sampleOne(s, at)));
      servers.forEach((s, i) => series.get(s.name)!.push(samples[i]!));
    });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    series,
    async stop() {
      clearInterval(timer);
      await busy;
    },
  };
}
