/**
 * Room order on the edge, on its own: events fed in every order a network can produce, with
 * a fetch that stands in for the messages service's history (what a room holds) — the logic
 * under test is the edge's, so its inputs are spelled out here.
 */
import { describe, expect, it } from "vitest";
import { createRoomOrder, type Ordered } from "../src/room-order.js";

interface Harness {
  delivered: string[];
  fetches: { afterId: bigint; beforeId: bigint; count: number }[];
  counts: Record<string, number>;
  accept(stream: string, seq: number, previousMsAgo?: number): void;
  order: ReturnType<typeof createRoomOrder<string>>;
}

/** Room 7's messages have ids 100 + seq; `stored` says which of them the history holds (and which are deleted). */
function harness(options: { windowMs?: number; deleted?: number[]; failFetch?: boolean; stored?: number } = {}): Harness {
  const delivered: string[] = [];
  const fetches: Harness["fetches"] = [];
  const counts: Record<string, number> = {};
  const order = createRoomOrder<string>({
    windowMs: options.windowMs ?? 30,
    deliver: (stream, message) => delivered.push(`${stream}:${message}`),
    count: (outcome) => (counts[outcome] = (counts[outcome] ?? 0) + 1),
    async fetch(_roomId, afterId, beforeId, count) {
      fetches.push({ afterId, beforeId, count });
      if (options.failFetch) throw new Error("messages is down");
      const found = [];
      for (let id = afterId + 1n; id < beforeId && found.length < count; id++) {
        const seq = Number(id - 100n);
        if (options.stored !== undefined && seq > options.stored) break;
        found.push({ id, message: options.deleted?.includes(seq) ? undefined : `m${seq}` });
      }
      return found;
    },
  });
  return {
    delivered,
    fetches,
    counts,
    order,
    accept(stream, seq, previousMsAgo) {
      const event: Ordered<string> = {
        roomId: 7n,
        id: 100n + BigInt(seq),
        seq: BigInt(seq),
        previousSentAt: previousMsAgo === undefined ? undefined : Date.now() - previousMsAgo,
        message: `m${seq}`,
      };
      order.accept(stream, event);
    },
  };
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("room order on the edge", () => {
  it("delivers in-order events at once", () => {
    const h = harness();
    for (const seq of [1, 2, 3]) h.accept("group:1", seq);
    expect(h.delivered).toEqual(["group:1:m1", "group:1:m2", "group:1:m3"]);
    expect(h.fetches).toEqual([]);
  });

  it("holds an early event until the one before it arrives", () => {
    const h = harness();
    h.accept("group:1", 1);
    h.accept("group:1", 3);
    expect(h.delivered).toEqual(["group:1:m1"]);
    h.accept("group:1", 2);
    expect(h.delivered).toEqual(["group:1:m1", "group:1:m2", "group:1:m3"]);
    expect(h.counts["held"]).toBe(1);
  });

  it("fetches what is still missing after the window, and delivers it first", async () => {
    const h = harness({ windowMs: 20 });
    h.accept("group:1", 1);
    h.accept("group:1", 4);
    h.accept("group:1", 5);
    await settle(60);
    expect(h.fetches).toEqual([{ afterId: 101n, beforeId: 104n, count: 2 }]);
    expect(h.delivered).toEqual(["group:1:m1", "group:1:m2", "group:1:m3", "group:1:m4", "group:1:m5"]);
    // The late events of the fetched messages are delivered as they come (sockets drop what they have).
    h.accept("group:1", 2);
    expect(h.delivered.at(-1)).toBe("group:1:m2");
    expect(h.counts).toMatchObject({ filled: 1, late: 1 });
    // And the room goes on in order.
    h.accept("group:1", 6);
    expect(h.delivered.at(-1)).toBe("group:1:m6");
  });

  it("takes a deleted message's place without delivering it", async () => {
    const h = harness({ windowMs: 10, deleted: [2] });
    h.accept("group:1", 1);
    h.accept("group:1", 3);
    await settle(40);
    expect(h.delivered).toEqual(["group:1:m1", "group:1:m3"]);
    h.accept("group:1", 4);
    expect(h.delivered.at(-1)).toBe("group:1:m4");
  });

  it("never holds forever: a failed fetch delivers what it holds, in order", async () => {
    const h = harness({ windowMs: 10, failFetch: true });
    h.accept("group:1", 1);
    h.accept("group:1", 5);
    h.accept("group:1", 3);
    await settle(40);
    expect(h.delivered).toEqual(["group:1:m1", "group:1:m3", "group:1:m5"]);
    expect(h.counts["unfilled"]).toBe(1);
  });

  it("starts a new room where its first event is, unless the one before it was just stored", async () => {
    const h = harness({ windowMs: 20 });
    // Long ago: nothing can be on its way.
    h.accept("user:1", 8, 60_000);
    expect(h.delivered).toEqual(["user:1:m8"]);
    // Just now: the previous one may be on its way, so the first event waits for it.
    h.accept("user:2", 8, 5);
    expect(h.delivered).toEqual(["user:1:m8"]);
    h.accept("user:2", 7, 5);
    await settle(60);
    expect(h.delivered).toEqual(["user:1:m8", "user:2:m7", "user:2:m8"]);
    h.accept("user:2", 9);
    expect(h.delivered.at(-1)).toBe("user:2:m9");
  });

  it("keeps each stream apart, and forgets a stream whose sockets left", () => {
    const h = harness();
    h.accept("user:1", 1);
    h.accept("user:2", 1);
    h.accept("user:1", 2);
    expect(h.delivered).toEqual(["user:1:m1", "user:2:m1", "user:1:m2"]);
    h.order.forget("user:1");
    // A forgotten stream starts again where its next event is.
    h.accept("user:1", 9, 60_000);
    expect(h.delivered.at(-1)).toBe("user:1:m9");
  });

  it("passes unsaved messages (no room_seq) straight through", () => {
    const h = harness();
    h.order.accept("user:1", { roomId: 0n, id: 0n, seq: 0n, previousSentAt: undefined, message: "fallback" });
    expect(h.delivered).toEqual(["user:1:fallback"]);
  });

  it("holds what follows a message (an edit) until that message went out on the stream", async () => {
    const h = harness();
    h.accept("s", 1);
    const ran: string[] = [];
    const justNow = Date.now();
    // The edit of m3 arrives before m2 and m3: it waits for m3.
    h.order.after("s", 7n, 103n, justNow, 5000, () => ran.push("edit m3"));
    // An edit of m1, already delivered, goes at once.
    h.order.after("s", 7n, 101n, justNow, 5000, () => ran.push("edit m1"));
    expect(ran).toEqual(["edit m1"]);
    h.accept("s", 2);
    expect(ran).toEqual(["edit m1"]);
    h.accept("s", 3);
    expect(ran).toEqual(["edit m1", "edit m3"]);
    expect(h.delivered).toEqual(["s:m1", "s:m2", "s:m3"]);

    // A stream that never saw the room: an old message's edit goes at once, a fresh one's waits
    // (its message may be on its way) — at most maxWaitMs.
    h.order.after("other", 7n, 150n, Date.now() - 60_000, 5000, () => ran.push("old"));
    h.order.after("other", 7n, 151n, Date.now(), 40, () => ran.push("fresh, given up"));
    expect(ran.slice(2)).toEqual(["old"]);
    await settle(80);
    expect(ran.slice(2)).toEqual(["old", "fresh, given up"]);
  });
});
