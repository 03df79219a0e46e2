/**
 * Connections cut in the middle of the work, through a TCP proxy between a client and the
 * edge: in both directions, nothing is lost and nothing is doubled.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@redup/kit/testing";
import type { EdgeServer } from "@redup/edge";
import { collect, fullHistory, inRoomOrder, online, startStack, type Stack } from "./stack.js";

let stack: Stack;
let edge: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge();
});
afterAll(async () => {
  await stack?.close();
});

describe("a cut connection", () => {
  it("loses the ACK of a stored message: the send is retried with the same client_msg_id and stored once", async () => {
    const proxy = await stack.proxy(edge);
    const ana = stack.client(proxy.port, { auth: { user_id: "201" } });
    const luis = stack.client(edge.port, { auth: { user_id: "202" } });
    const received = collect(luis, "message");
    await Promise.all([online(ana), online(luis)]);

    // The request reaches the edge, the ACK never comes back.
    proxy.stall();
    const sending = ana.send({ to: "202", type: "directo", message: "¿llegó?" });
    await waitFor(() => received.length === 1, 5000, "the message to be stored and delivered");
    const [entry] = ana.pending();
    expect(entry).toMatchObject({ attempts: 1, payload: { message: "¿llegó?" } });

    await proxy.cut();
    await waitFor(() => ana.state.status === "reconnecting", 5000, "ana to notice the cut");
    await proxy.restore();
    const stored = await sending;

    expect(stored.mensaje_id).toBe(received[0]!.mensaje_id);
    expect(stored.client_msg_id).toBe(entry!.client_msg_id);
    expect(ana.pending()).toEqual([]);
    const history = await fullHistory(luis, "directo", "201");
    expect(history.filter((m) => m.message === "¿llegó?")).toHaveLength(1);
    // Luis's edge delivered it once; the retry was answered from the first store, not sent again.
    expect(received).toHaveLength(1);
  });

  it("while sending many: every message is stored once, in the order written", async () => {
    const proxy = await stack.proxy(edge);
    const ana = stack.client(proxy.port, { auth: { user_id: "211" } });
    const luis = stack.client(edge.port, { auth: { user_id: "212" } });
    const received = collect(luis, "message");
    const sent = collect(ana, "sent");
    await Promise.all([online(ana), online(luis)]);

    const texts = Array.from({ length: 60 }, (_, i) => `envío ${i}`);
    const sends = texts.map((message) => ana.send({ to: "212", type: "directo", message }));
    await waitFor(() => received.length >= 20, 10_000, "some messages to go through");
    await proxy.cut();
    await proxy.restore();
    const acks = await Promise.all(sends);

    expect(new Set(acks.map((a) => a.mensaje_id)).size).toBe(60);
    // The one in flight at the cut went out again.
    expect(Math.max(...sent.map((e) => e.entry.attempts))).toBeGreaterThan(1);
    expect(inRoomOrder(acks.map((a) => a.mensaje_id))).toBe(true);
    await waitFor(() => received.length === 60, 10_000, "luis to receive all");
    expect(received.map((m) => m.message)).toEqual(texts);
    const history = await fullHistory(luis, "directo", "211");
    expect(history.map((m) => m.message)).toEqual(texts);
  });

  it("while receiving: every message arrives once, in room order", async () => {
    const proxy = await stack.proxy(edge);
    const ana = stack.client(edge.port, { auth: { user_id: "221" } });
    const luis = stack.client(proxy.port, { auth: { user_id: "222" } });
    const received = collect(luis, "message");
    const states = collect(luis, "state");
    const delivered = collect(ana, "delivered");
    await Promise.all([online(ana), online(luis)]);

    const texts = Array.from({ length: 80 }, (_, i) => `recibo ${i}`);
    const sends = texts.map((message) => ana.send({ to: "222", type: "directo", message }));
    await waitFor(() => received.length >= 15, 10_000, "some messages to arrive");
    await proxy.cut();
    // Sent while luis is away: they come back through the catch-up and the change feed.
    await waitFor(async () => (await fullHistory(ana, "directo", "222")).length >= 50, 10_000, "more to be stored meanwhile");
    await proxy.restore();
    await Promise.all(sends);
    // A last live message: whatever was replayed or read from the feed came before it.
    await ana.send({ to: "222", type: "directo", message: "fin" });
    await waitFor(() => received.at(-1)?.message === "fin", 15_000, "luis to receive all");

    expect(received.map((m) => m.message)).toEqual([...texts, "fin"]);
    expect(inRoomOrder(received.map((m) => m.mensaje_id))).toBe(true);
    expect(states.map((s) => s.status)).toContain("reconnecting");
    // Each was confirmed delivered once (a lost confirmation is made again on the replay).
    await waitFor(() => delivered.length === 81, 10_000, "every delivery receipt");
    expect(new Set(delivered.map((d) => d.mensaje_id)).size).toBe(81);
  });
});
