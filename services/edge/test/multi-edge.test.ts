/**
 * Several edges on different ports against the same services and NATS: fan-out by interest,
 * users spread across edges, a user with sockets on two edges, and stored order.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EdgeServer } from "../src/index.js";
import { waitFor } from "@redup/kit/testing";
import { call, collect, connectUser, startStack, until, type Stack } from "./harness.js";

let stack: Stack;
let east: EdgeServer;
let west: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  east = await stack.startEdge({ EDGE_ID: "east" });
  west = await stack.startEdge({ EDGE_ID: "west" });
});
afterAll(async () => {
  await stack?.close();
});

/** NATS events an edge has received so far, from its own metrics. */
async function received(edge: EdgeServer): Promise<number> {
  const metric = await edge.context.metrics.natsReceived.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

describe("two edges", () => {
  it("exchange direct and group messages between users on different edges", async () => {
    expect(east.port).not.toBe(west.port);
    const ana = await connectUser(east, 1001);
    const luis = await connectUser(west, 1002);
    const eva = await connectUser(west, 1003);

    const toLuis = collect<Record<string, unknown>>(luis.socket, "receive_message");
    const ack = await call(ana.socket, "send_message", { to: 1002, message: "de este a oeste", type: "directo" });
    expect((await until(toLuis, 1))[0]).toMatchObject({ from: "1001", to: "1002", mensaje_id: ack["mensaje_id"] });

    const toAna = collect<Record<string, unknown>>(ana.socket, "receive_message");
    await call(luis.socket, "send_message", { to: 1001, message: "de oeste a este", type: "directo" });
    expect((await until(toAna, 1))[0]).toMatchObject({ from: "1002", message: "de oeste a este" });

    for (const u of [ana, luis, eva]) await call(u.socket, "join_group", { group_id: 3000 });
    const groupAtLuis = collect<Record<string, unknown>>(luis.socket, "receive_message");
    const groupAtEva = collect<Record<string, unknown>>(eva.socket, "receive_message");
    const g = await call(ana.socket, "send_message", { to: 3000, message: "hola grupo", type: "grupal" });
    expect((await until(groupAtLuis, 1))[0]).toMatchObject({ to: "3000", type: "grupal", mensaje_id: g["mensaje_id"] });
    expect((await until(groupAtEva, 1))[0]).toMatchObject({ to: "3000", mensaje_id: g["mensaje_id"] });
    for (const u of [ana, luis, eva]) u.socket.disconnect();
  });

  it("reaches a user's sockets on both edges, once each", async () => {
    const onEast = await connectUser(east, 1101);
    const onWest = await connectUser(west, 1101);
    const sender = await connectUser(west, 1102);
    const a = collect<Record<string, unknown>>(onEast.socket, "receive_message");
    const b = collect<Record<string, unknown>>(onWest.socket, "receive_message");
    for (let i = 0; i < 3; i++) await call(sender.socket, "send_message", { to: 1101, message: `m${i}`, type: "directo" });
    await until(a, 3);
    await until(b, 3);
    // A message sent from the east socket reaches the west one (and not itself).
    const own = collect<Record<string, unknown>>(onEast.socket, "receive_message");
    await call(onEast.socket, "send_message", { to: 1102, message: "desde el este", type: "directo" });
    await until(b, 4);
    expect(b[3]).toMatchObject({ from: "1101", to: "1102", message: "desde el este" });
    // The barrier: a later message to 1101, over the same NATS subject to the same east socket.
    // Once it is in, a copy of "desde el este" on its way to the sending socket would be too.
    const reply = await call(sender.socket, "send_message", { to: 1101, message: "barrera", type: "directo" });
    await until(own, 1);
    expect(own.map((m) => m["mensaje_id"])).toEqual([reply["mensaje_id"]]);
    expect(a.map((m) => m["message"])).toEqual(["m0", "m1", "m2", "barrera"]);
    for (const u of [onEast, onWest, sender]) u.socket.disconnect();
  });

  it("applies a join or a leave to the user's sockets on every edge", async () => {
    const phone = await connectUser(east, 1401);
    const laptop = await connectUser(west, 1401);
    const sender = await connectUser(west, 1402);
    await call(sender.socket, "join_group", { group_id: 3200 });
    await call(laptop.socket, "join_group", { group_id: 3200 });
    await waitFor(() => east.context.fanout.userInGroup("1401", "3200"), 5000, "the join to reach the other edge");
    const onPhone = collect<Record<string, unknown>>(phone.socket, "receive_message");
    await call(sender.socket, "send_message", { to: 3200, message: "para todos tus dispositivos", type: "grupal" });
    await until(onPhone, 1);

    await call(phone.socket, "leave_group", { group_id: 3200 });
    await waitFor(() => !west.context.fanout.userInGroup("1401", "3200"), 5000, "the leave to reach the other edge");
    const onLaptop = collect<Record<string, unknown>>(laptop.socket, "receive_message");
    await call(sender.socket, "send_message", { to: 3200, message: "ya no", type: "grupal" });
    await call(sender.socket, "send_message", { to: 1401, message: "marca", type: "directo" });
    await until(onLaptop, 1);
    expect(onLaptop.map((m) => m["message"])).toEqual(["marca"]);
    expect(await call(laptop.socket, "get_history", { type: "grupal", to: 3200 })).toMatchObject({ status: "error", code: "NOT_A_MEMBER" });
    for (const u of [phone, laptop, sender]) u.socket.disconnect();
  });

  it("subscribes by interest: an edge gets no traffic for users it does not hold", async () => {
    const here = await connectUser(west, 1201);
    const there = await connectUser(west, 1202);
    const far = await connectUser(east, 1203);
    const got = collect(there.socket, "receive_message");
    const atFar = collect(far.socket, "receive_message");
    const eastBefore = await received(east);
    const westBefore = await received(west);
    for (let i = 0; i < 5; i++) await call(here.socket, "send_message", { to: 1202, message: `local ${i}`, type: "directo" });
    await until(got, 5);
    // West received each message for the recipient and for the sender's own subject.
    expect((await received(west)) - westBefore).toBe(10);
    // The barrier: a later message east must get (to its user 1203). Once it is in, anything
    // of the five on its way to east would have been counted too.
    await call(here.socket, "send_message", { to: 1203, message: "al este", type: "directo" });
    await until(atFar, 1);
    await waitFor(async () => (await received(east)) - eastBefore >= 1, 5000, "east to count the barrier");
    expect((await received(east)) - eastBefore).toBe(1);
    far.socket.disconnect();
    const subsBefore = west.context.fanout.subscriptionCount;
    here.socket.disconnect();
    there.socket.disconnect();
    // Unsubscribing follows the disconnect on the server side; wait for it, bounded.
    const deadline = Date.now() + 3000;
    while (west.context.fanout.subscriptionCount > subsBefore - 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(west.context.fanout.subscriptionCount).toBe(subsBefore - 2);
  });

  it("keeps stored order for concurrent senders in one group, on every socket", async () => {
    const members = await Promise.all([1301, 1302, 1303, 1304].map((id, i) => connectUser(i % 2 ? west : east, id)));
    for (const m of members) await call(m.socket, "join_group", { group_id: 3100 });
    const listeners = members.map((m) => collect<Record<string, unknown>>(m.socket, "receive_message"));
    const sends = members.flatMap((m, i) => Array.from({ length: 10 }, (_, k) => call(m.socket, "send_message", { to: 3100, message: `${i}-${k}`, type: "grupal" })));
    const acks = await Promise.all(sends);
    expect(acks.every((a) => a["saved_to_db"] === true)).toBe(true);
    for (const got of listeners) {
      await until(got, 30, 10_000);
      const ids = got.map((m) => BigInt(m["mensaje_id"] as string));
      expect(ids).toEqual([...ids].sort((x, y) => (x < y ? -1 : 1)));
    }
    for (const m of members) m.socket.disconnect();
  });
});
