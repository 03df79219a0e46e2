/**
 * CI's smoke run of the soak (`npm run soak`): the four servers as separate processes, mixed
 * traffic at a rate this loaded machine carries easily, for 2 minutes (SOAK_SMOKE_MINUTES
 * shortens it locally, e.g. 0.5). It checks that traffic of every kind flowed, nothing ACKed was
 * lost and no server's RSS, descriptors or event-loop lag grew past the limits (RSS judged
 * loosely: a gross leak, see below); the 30-minute figures live in BENCHMARKS.md.
 */
import { expect, it } from "vitest";
import { formatSoak } from "../src/soak/format.js";
import { LIMITS } from "../src/soak/growth.js";
import { runSoak } from "../src/soak/soak.js";

const minutes = Number(process.env["SOAK_SMOKE_MINUTES"] || 2);

it(`soaks ${minutes} min of mixed traffic without growth`, { timeout: (minutes * 60 + 240) * 1000 }, async () => {
  const report = await runSoak({
    minutes,
    rate: 40,
    groupShare: 0.2,
    pairs: 20,
    groups: 4,
    members: 5,
    historyPerSecond: 4,
    reconnectsPerMinute: 30,
    // Half the run: right after start-up the heaps are still sizing themselves, and a smoke this
    // short must not fail on that; it still fails on a gross leak (over 16 MiB/min of RSS).
    warmupSeconds: minutes * 30,
    // And a window limit for RSS of 64 MiB instead of 16: in the minute after that, heaps still
    // grow by up to ~30 MiB (measured on the 2-core machine). The smoke catches a gross leak; the
    // 30-minute run judges with the documented limits.
    limits: { ...LIMITS, rss: { ...LIMITS.rss, total: 64 * 1024 * 1024 } },
    sampleSeconds: 2,
    maxMessages: 100_000,
    drainSeconds: 30,
  });
  const text = formatSoak(report);
  process.stdout.write(`${text}\n`);
  expect(text.split("\n").at(-1), text).toBe("SOAK PASS: no growth in RSS, open fds or event-loop lag of any server");
  expect(report.growth.map((g) => `${g.server} ${g.measure}`)).toHaveLength(12);
  // Traffic of every kind flowed, and (almost) all of it succeeded.
  expect(report.acked).toBeGreaterThan(minutes * 60 * 40 * 0.5);
  // OVERLOADED is the system shedding load as designed (the sender retries); a starved CI box
  // may see some. Every other failure must stay rare.
  const overloaded = report.refusals["OVERLOADED"] ?? 0;
  expect(overloaded, text).toBeLessThanOrEqual(Math.ceil(report.sent * 0.05));
  expect(report.errors - overloaded, text).toBeLessThanOrEqual(Math.ceil(report.sent * 0.005));
  expect(report.lost, text).toBe(0);
  expect(report.received).toBeGreaterThan(report.acked);
  expect(report.history.reads).toBeGreaterThan(0);
  expect(report.reconnects.done).toBeGreaterThan(0);
});
