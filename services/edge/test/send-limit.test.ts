/**
 * The adaptive send limit on its own, with a hand-driven clock: it shrinks to 80 % of what
 * was in progress when a window's answers came late, grows by a tenth when it held sends back
 * and they kept pace, stays between its bounds, and ignores windows too small to judge.
 */
import { describe, expect, it } from "vitest";
import { createSendLimit } from "../src/send-limit.js";

function clockedLimit(options: { targetMs: number; min: number; max: number }) {
  let t = 0;
  const limit = createSendLimit({ ...options, now: () => t });
  return { limit, advance: (ms: number) => (t += ms) };
}

/** Starts `n` sends and answers them all with `latencyMs`, within the current window. */
function answer(limit: ReturnType<typeof createSendLimit>, n: number, latencyMs: number) {
  let started = 0;
  for (let i = 0; i < n; i++) if (limit.start()) started++;
  for (let i = 0; i < started; i++) limit.finish(latencyMs);
  return started;
}

describe("the adaptive send limit", () => {
  it("starts at its maximum and refuses a start past it", () => {
    const { limit } = clockedLimit({ targetMs: 100, min: 2, max: 3 });
    expect(limit.limit).toBe(3);
    expect([limit.start(), limit.start(), limit.start(), limit.start()]).toEqual([true, true, true, false]);
    expect(limit.open()).toBe(false);
    limit.finish(10);
    expect(limit.open()).toBe(true);
    expect(limit.active).toBe(2);
  });

  it("drops to 80 % of the peak in progress after a window of late answers, down to its minimum", () => {
    const { limit, advance } = clockedLimit({ targetMs: 100, min: 50, max: 1000 });
    expect(answer(limit, 400, 300)).toBe(400);
    advance(100);
    limit.open();
    // 400 were in progress at the peak: the limit falls to 320, not to 800.
    expect(limit.limit).toBe(320);
    answer(limit, 320, 300);
    advance(100);
    limit.open();
    expect(limit.limit).toBe(256);
    for (let i = 0; i < 20; i++) {
      answer(limit, limit.limit, 300);
      advance(100);
      limit.open();
    }
    expect(limit.limit).toBe(50);
  });

  it("grows by a tenth after a window in time, whether or not the limit held sends back, up to its maximum", () => {
    const { limit, advance } = clockedLimit({ targetMs: 100, min: 10, max: 130 });
    answer(limit, 125, 300);
    advance(100);
    limit.open();
    expect(limit.limit).toBe(100);
    // 10 late of 100: not more than a tenth. Then 50 in time, well below the limit; then 1000
    // offered, 121 taken: 100 -> 110 -> 121 -> 130 (the maximum).
    const seen = [];
    answer(limit, 90, 20);
    answer(limit, 10, 300);
    advance(100);
    limit.open();
    seen.push(limit.limit);
    answer(limit, 50, 20);
    advance(100);
    limit.open();
    seen.push(limit.limit);
    expect(answer(limit, 1000, 20)).toBe(121);
    advance(100);
    limit.open();
    seen.push(limit.limit);
    expect(seen).toEqual([110, 121, 130]);
  });

  it("keeps the limit after a window of a few answers with some late, and grows back while idle", () => {
    const { limit, advance } = clockedLimit({ targetMs: 100, min: 50, max: 1000 });
    answer(limit, 200, 300);
    advance(100);
    limit.open();
    expect(limit.limit).toBe(160);
    // Nine answers, some late: too few to say anything.
    answer(limit, 5, 20);
    answer(limit, 4, 300);
    advance(100);
    limit.open();
    expect(limit.limit).toBe(160);
    // Ten quiet windows, each counted as in time: 160 -> 176 -> 194 -> ... -> 421.
    advance(1000);
    limit.open();
    expect(limit.limit).toBe(421);
    // And never past the maximum, however long the quiet.
    advance(60_000);
    limit.open();
    expect(limit.limit).toBe(1000);
  });

  it("holds while sends are in progress and none answers, and grows back once they are answered in time", () => {
    const { limit, advance } = clockedLimit({ targetMs: 100, min: 50, max: 1000 });
    answer(limit, 200, 300);
    advance(100);
    limit.open();
    expect(limit.limit).toBe(160);
    // 100 sends hang: windows go by with no answer, which is no sign of health.
    for (let i = 0; i < 100; i++) limit.start();
    advance(100);
    limit.open();
    advance(1000);
    limit.open();
    expect(limit.limit).toBe(160);
    // Answered in time at last: up a tenth.
    for (let i = 0; i < 100; i++) limit.finish(20);
    advance(100);
    limit.open();
    expect(limit.limit).toBe(176);
  });

  it("counts a failed send's place but not its latency", () => {
    const { limit, advance } = clockedLimit({ targetMs: 100, min: 10, max: 1000 });
    for (let i = 0; i < 50; i++) limit.start();
    for (let i = 0; i < 50; i++) limit.finish();
    expect(limit.active).toBe(0);
    advance(100);
    limit.open();
    expect(limit.limit).toBe(1000);
  });
});
