/**
 * Two edges behind a TCP balancer; one dies while two users write to each other. Every
 * message is stored once and received once, in the room's order, by whoever was on either edge.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@redup/kit/testing";
import { collect, fullHistory, inRoomOrder, online, startStack, type Stack } from "./stack.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

describe("an edge dies behind the balancer", () => {
  it("loses nothing and doubles nothing while both users send", async () => {
    const east = await stack.startEdge({ EDGE_ID: "east" });
    const west = await stack.startEdge({ EDGE_ID: "west" });
    // Each edge behind its own proxy, so killing it also cuts its sockets at once, as a crash does.
    const [eastLink, westLink] = await Promise.all([stack.proxy(east), stack.proxy(west)]);
    const balancer = await stack.balancer([eastLink.port, westLink.port]);

    const ana = stack.client(balancer.port, { auth: { user_id: "301" } });
    const luis = stack.client(balancer.port, { auth: { user_id: "302" } });
    const toAna = collect(ana, "message");
    const toLuis = collect(luis, "message");
    await Promise.all([online(ana), online(luis)]);
    // The balancer alternates: one user on each edge, so the dead one held somebody.
    expect(east.context.fanout.socketsOf("301").size + east.context.fanout.socketsOf("302").size).toBe(1);

    const fromAna = Array.from({ length: 40 }, (_, i) => `ana ${i}`);
    const fromLuis = Array.from({ length: 40 }, (_, i) => `luis ${i}`);
    const sends = [...fromAna.map((message) => ana.send({ to: "302", type: "directo", message })), ...fromLuis.map((message) => luis.send({ to: "301", type: "directo", message }))];
    await waitFor(() => toAna.length + toLuis.length >= 20, 10_000, "some traffic before the crash");
    await eastLink.cut();
    await stack.stopEdge(east);

    const acks = await Promise.all(sends);
    expect(new Set(acks.map((a) => a.mensaje_id)).size).toBe(80);
    await Promise.all([online(ana), online(luis)]);
    for (const [who, to] of [[ana, "302"], [luis, "301"]] as const) await who.send({ to, type: "directo", message: "fin" });
    await waitFor(() => toAna.at(-1)?.message === "fin" && toLuis.at(-1)?.message === "fin", 20_000, "both to receive everything");

    expect(toAna.map((m) => m.message)).toEqual([...fromLuis, "fin"]);
    expect(toLuis.map((m) => m.message)).toEqual([...fromAna, "fin"]);
    expect(inRoomOrder(toAna.map((m) => m.mensaje_id))).toBe(true);
    expect(inRoomOrder(toLuis.map((m) => m.mensaje_id))).toBe(true);
    const history = await fullHistory(ana, "directo", "302");
    expect(history).toHaveLength(82);
    expect(new Set(history.map((m) => m.message)).size).toBe(81); // "fin" twice, once from each
    expect(inRoomOrder(history.map((m) => m.mensaje_id))).toBe(true);
  });
});
