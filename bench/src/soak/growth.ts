import type { Sample, Series } from "./sampler.js";

/** Least-squares slope of value over time, per minute; undefined with fewer than 3 points. */
export function slopePerMinute(points: { at: number; value: number }[]): number | undefined {
  if (points.length < 3) return undefined;
  const n = points.length;
  const meanT = points.reduce((s, p) => s + p.at, 0) / n;
  const meanV = points.reduce((s, p) => s + p.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.at - meanT) * (p.value - meanV);
    den += (p.at - meanT) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60_000;
}

/**
 * "No growth", per measure: a server fails only when its fitted slope is over `perMinute`
 * AND the growth that slope means over the measured window is over `total`. The second
 * condition keeps a short smoke from failing on one GC cycle's sawtooth (a 90 s window
 * needs over 10 MiB/min of RSS to fail); over a 25-minute window the per-minute limit is the
 * one that bites. Documented in BENCHMARKS.md ("Soak").
 */
export const LIMITS = {
  rss: { perMinute: 2 * 1024 * 1024, total: 16 * 1024 * 1024, unit: "MiB", scale: 1024 * 1024, pick: (s: Sample) => s.rssBytes },
  fds: { perMinute: 1, total: 10, unit: "fds", scale: 1, pick: (s: Sample) => s.fds },
  lag: { perMinute: 0.005, total: 0.02, unit: "ms", scale: 0.001, pick: (s: Sample) => s.lagP99Seconds },
} as const;

export type Measure = keyof typeof LIMITS;
export type Limits = { [M in Measure]: { perMinute: number; total: number; unit: string; scale: number; pick: (s: Sample) => number | undefined } };

export interface GrowthLine {
  server: string;
  measure: Measure;
  /** Samples in the measured stretch that had a value. */
  points: number;
  first: number | undefined;
  last: number | undefined;
  /** Per minute, in the measure's base unit (bytes, descriptors, seconds). */
  slope: number | undefined;
  /** Whether enough readings were taken (at least 3, and 90 % of the rounds after the warm-up). */
  enough: boolean;
  ok: boolean;
}

/** Each server's slope of each measure over the samples taken from `fromMs` to `toMs`. */
export function judgeGrowth(series: Series, fromMs: number, toMs: number, limits: Limits = LIMITS): GrowthLine[] {
  const lines: GrowthLine[] = [];
  for (const [server, samples] of series) {
    const measured = samples.filter((s) => s.at >= fromMs && s.at <= toMs);
    const windowMinutes = measured.length > 1 ? (measured.at(-1)!.at - measured[0]!.at) / 60_000 : 0;
    for (const measure of Object.keys(limits) as Measure[]) {
      const limit = limits[measure];
      const points = measured.flatMap((s) => {
        const value = limit.pick(s);
        return value === undefined ? [] : [{ at: s.at, value }];
      });
      const slope = slopePerMinute(points);
      // A measure with too few readings (or a server that stopped answering) is a failure:
      // "no growth" is claimed only for what was seen.
      const enough = slope !== undefined && points.length >= Math.max(3, measured.length * 0.9);
      const ok = enough && (slope <= limit.perMinute || slope * windowMinutes <= limit.total);
      lines.push({ server, measure, points: points.length, first: points[0]?.value, last: points.at(-1)?.value, slope, enough, ok });
    }
  }
  return lines;
}
