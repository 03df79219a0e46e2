import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createBatcher } from "../src/batch.js";
import { createSingleFlight } from "../src/single-flight.js";

/** A run function that records its batches and is released by hand. */
function gate() {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  let running = 0;
  let maxRunning = 0;
  const run = async (items: number[]) => {
    batches.push(items);
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise<void>((resolve) => releases.push(resolve));
    running--;
    return items.map((n) => (n < 0 ? new Error(`negative ${n}`) : n * 10));
  };
  return { run, batches, releases, maxRunning: () => maxRunning };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("createBatcher", () => {
  it("refuses items past maxQueued at once, with ResourceExhausted, and takes them again once the queue drains", async () => {
    const g = gate();
    let shed = 0;
    const add = createBatcher({ run: g.run, maxBatch: 2, maxInFlight: 1, maxQueued: 3, name: "test", onShed: () => shed++ });
    const first = add(1);
    await tick();
    // One batch in flight; three may wait; the next ones are refused without waiting.
    const waiting = [add(2), add(3), add(4)];
    const refused = await add(5).then(
      () => undefined,
      (e: ConnectError) => e,
    );
    expect(refused?.code).toBe(Code.ResourceExhausted);
    expect(refused?.rawMessage).toMatch(/test is overloaded/);
    expect(shed).toBe(1);
    g.releases.shift()!();
    expect(await first).toBe(10);
    await tick();
    await tick();
    // Two of the waiting items left for the next batch: there is room again.
    expect(g.batches).toEqual([[1], [2, 3]]);
    const later = add(6);
    g.releases.shift()!();
    await tick();
    await tick();
    expect(g.batches).toEqual([[1], [2, 3], [4, 6]]);
    g.releases.shift()!();
    expect(await Promise.all([...waiting, later])).toEqual([20, 30, 40, 60]);
    expect(shed).toBe(1);
  });

  it("refuses items that waited past maxWaitMs when their batch is formed, and sends the fresh ones", async () => {
    const g = gate();
    let shed = 0;
    const add = createBatcher({ run: g.run, maxBatch: 10, maxInFlight: 1, maxWaitMs: 50, onShed: () => shed++ });
    const first = add(1);
    await tick();
    const stale = [add(2), add(3)].map((p) => p.then(() => "sent", (e: ConnectError) => e.code));
    await new Promise((r) => setTimeout(r, 80));
    const fresh = add(4);
    g.releases.shift()!();
    expect(await first).toBe(10);
    expect(await Promise.all(stale)).toEqual([Code.ResourceExhausted, Code.ResourceExhausted]);
    await tick();
    expect(g.batches).toEqual([[1], [4]]);
    g.releases.shift()!();
    expect(await fresh).toBe(40);
    expect(shed).toBe(2);
  });

  it("refuses an item at its own deadline: at once when it has passed, or when its batch would start later", async () => {
    const g = gate();
    let shed = 0;
    const add = createBatcher({ run: g.run, maxBatch: 10, maxInFlight: 1, maxWaitMs: 10_000, onShed: () => shed++ });
    const outcome = (p: Promise<number>) => p.then((v) => v, (e: ConnectError) => e.code);
    const first = add(1);
    await tick();
    const past = outcome(add(2, performance.now() - 1));
    const soon = outcome(add(3, performance.now() + 30));
    const later = outcome(add(4, performance.now() + 5_000));
    expect(await past).toBe(Code.ResourceExhausted);
    await new Promise((r) => setTimeout(r, 60));
    g.releases.shift()!();
    expect(await first).toBe(10);
    expect(await soon).toBe(Code.ResourceExhausted);
    await tick();
    // Only the item whose caller still waits is sent.
    expect(g.batches).toEqual([[1], [4]]);
    g.releases.shift()!();
    expect(await later).toBe(40);
    expect(shed).toBe(2);
  });

  it("sheds a standing queue: once behind for shedBacklogAfterMs, refuses new items while a full round waits", async () => {
    const g = gate();
    let shed = 0;
    const add = createBatcher({ run: g.run, maxBatch: 2, maxInFlight: 1, maxQueued: 100, shedBacklogAfterMs: 20, onShed: () => shed++ });
    const all = [add(1)];
    await tick();
    all.push(add(2), add(3), add(4), add(5));
    // A burst queues: nothing is behind yet.
    expect(add.shedding).toBe(false);
    g.releases.shift()!();
    await tick();
    await tick();
    // [2, 3] left; 4 and 5 stayed behind with the slot taken.
    expect(g.batches).toEqual([[1], [2, 3]]);
    expect(add.shedding).toBe(false);
    await new Promise((r) => setTimeout(r, 40));
    expect(add.shedding).toBe(true);
    const refused = await add(6).then(
      () => undefined,
      (e: ConnectError) => e.code,
    );
    expect(refused).toBe(Code.ResourceExhausted);
    expect(shed).toBe(1);
    g.releases.shift()!();
    await tick();
    await tick();
    // The queue was emptied into the next batch: caught up, items are taken again.
    expect(g.batches).toEqual([[1], [2, 3], [4, 5]]);
    expect(add.shedding).toBe(false);
    all.push(add(7));
    g.releases.shift()!();
    await tick();
    await tick();
    g.releases.shift()!();
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50, 70]);
  });

  it("sends what arrives together as one batch and answers each item with its own outcome", async () => {
    const g = gate();
    const add = createBatcher({ run: g.run, maxBatch: 100, maxInFlight: 1 });
    const answers = [add(1), add(-2), add(3)].map((p) => p.then((v) => ({ v }), (e: Error) => ({ e: e.message })));
    await tick();
    expect(g.batches).toEqual([[1, -2, 3]]);
    g.releases.shift()!();
    expect(await Promise.all(answers)).toEqual([{ v: 10 }, { e: "negative -2" }, { v: 30 }]);
  });

  it("gathers items while the batches in flight run, up to maxBatch per batch", async () => {
    const g = gate();
    const sizes: number[] = [];
    const add = createBatcher({ run: g.run, maxBatch: 3, maxInFlight: 2, onBatch: (n) => sizes.push(n) });
    const all: Promise<number>[] = [add(1)];
    await tick();
    all.push(add(2));
    await tick();
    // Both slots busy: these wait and form the next batches.
    for (let i = 3; i <= 9; i++) all.push(add(i));
    await tick();
    expect(g.batches).toEqual([[1], [2]]);
    g.releases.shift()!();
    await tick();
    await tick();
    expect(g.batches).toEqual([[1], [2], [3, 4, 5]]);
    for (let turns = 0; turns < 50 && (g.batches.flat().length < 9 || g.releases.length > 0); turns++) {
      g.releases.shift()?.();
      await tick();
    }
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(g.batches).toEqual([[1], [2], [3, 4, 5], [6, 7, 8], [9]]);
    expect(sizes).toEqual([1, 1, 3, 3, 1]);
    expect(g.maxRunning()).toBe(2);
  });

  it("fails every item of a batch that throws or answers the wrong number of outcomes, and goes on", async () => {
    let calls = 0;
    const add = createBatcher<number, number>({
      maxBatch: 10,
      maxInFlight: 1,
      run: async (items) => {
        calls++;
        if (calls === 1) throw new Error("down");
        if (calls === 2) return [1];
        return items;
      },
    });
    await expect(Promise.all([add(1), add(2)])).rejects.toThrow("down");
    await expect(Promise.all([add(1), add(2)])).rejects.toThrow("a batch of 2 answered 1 outcomes");
    expect(await Promise.all([add(7), add(8)])).toEqual([7, 8]);
  });

  it("refuses nonsensical limits", () => {
    expect(() => createBatcher({ run: async () => [], maxBatch: 0, maxInFlight: 1 })).toThrow();
    expect(() => createBatcher({ run: async () => [], maxBatch: 1, maxInFlight: 0 })).toThrow();
  });
});

describe("createSingleFlight", () => {
  it("shares a running call per key, leads with the first, and caches nothing", async () => {
    const flight = createSingleFlight<number>();
    let runs = 0;
    let release!: (n: number) => void;
    const work = () => {
      runs++;
      return new Promise<number>((resolve) => (release = resolve));
    };
    const first = flight("a", work);
    const second = flight("a", work);
    const other = flight("b", async () => 7);
    expect([first.leader, second.leader, other.leader]).toEqual([true, false, true]);
    expect(runs).toBe(1);
    release(42);
    expect(await Promise.all([first.result, second.result, other.result])).toEqual([42, 42, 7]);
    // Settled: the next call runs the work again.
    const again = flight("a", async () => 43);
    expect(again.leader).toBe(true);
    expect(await again.result).toBe(43);
  });

  it("shares a failure too, and the next call starts afresh", async () => {
    const flight = createSingleFlight<number>();
    const failing = flight("k", async () => Promise.reject(new Error("down")));
    const joined = flight("k", async () => 1);
    await expect(failing.result).rejects.toThrow("down");
    await expect(joined.result).rejects.toThrow("down");
    expect(await flight("k", async () => 2).result).toBe(2);
  });
});
