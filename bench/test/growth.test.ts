/**
 * The soak's verdict on synthetic series: a steady leak fails, a GC sawtooth or noise around a
 * flat line passes, a short burst does not fail a short window, and missing readings fail.
 */
import { describe, expect, it } from "vitest";
import { judgeGrowth, slopePerMinute } from "../src/soak/growth.js";
import type { Sample, Series } from "../src/soak/sampler.js";

const MiB = 1024 * 1024;

/** One server's samples every 5 s for `minutes`, RSS from `rss(t)` (t in minutes); fds and lag flat. */
function series(minutes: number, rss: (t: number) => number | undefined): Series {
  const samples: Sample[] = [];
  for (let at = 0; at <= minutes * 60_000; at += 5000) samples.push({ at, rssBytes: rss(at / 60_000), cpuSeconds: at / 10_000, fds: 40, lagP99Seconds: 0.012 });
  return new Map([["edge", samples]]);
}

const rssLine = (s: Series, from = 0, to = Infinity) => judgeGrowth(s, from, to).find((g) => g.measure === "rss")!;

describe("soak growth verdict", () => {
  it("fits the slope per minute by least squares", () => {
    expect(slopePerMinute([0, 1, 2, 3].map((m) => ({ at: m * 60_000, value: 10 + 3 * m })))).toBeCloseTo(3);
    expect(slopePerMinute([{ at: 0, value: 1 }, { at: 1, value: 2 }])).toBeUndefined();
  });

  it("fails a steady leak of 3 MiB/min over 25 minutes, and passes a flat sawtooth", () => {
    const leak = rssLine(series(30, (t) => 150 * MiB + 3 * MiB * t), 5 * 60_000);
    expect(leak.ok).toBe(false);
    expect(leak.slope! / MiB).toBeCloseTo(3);
    // A GC sawtooth: up 20 MiB over each minute, back down at its end.
    const sawtooth = rssLine(series(30, (t) => 150 * MiB + 20 * MiB * (t % 1)), 5 * 60_000);
    expect(sawtooth.ok).toBe(true);
    expect(Math.abs(sawtooth.slope! / MiB)).toBeLessThan(2);
    expect(judgeGrowth(series(30, () => 150 * MiB), 5 * 60_000, Infinity).every((g) => g.ok)).toBe(true);
  });

  it("lets a short window grow by less than the window limit, not more", () => {
    // 90 s measured at 8 MiB/min: 12 MiB in all, under 16 MiB.
    expect(rssLine(series(2, (t) => 150 * MiB + 8 * MiB * t), 30_000).ok).toBe(true);
    // 90 s at 20 MiB/min: 30 MiB, over it.
    expect(rssLine(series(2, (t) => 150 * MiB + 20 * MiB * t), 30_000).ok).toBe(false);
  });

  it("fails a measure with readings missing from more than a tenth of the samples", () => {
    const gappy = rssLine(series(10, (t) => (t > 5 ? undefined : 150 * MiB)), 60_000);
    expect([gappy.ok, gappy.enough]).toEqual([false, false]);
  });
});
