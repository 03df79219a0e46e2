/**
 * The client against one real edge: sending resolves with the stored message, receiving,
 * refusals, edits and deletes, and the protocol calls.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@redup/kit/testing";
import type { EdgeServer } from "@redup/edge";
import { ChatError } from "../src/index.js";
import { collect, online, startStack, type Stack } from "./stack.js";

let stack: Stack;
let edge: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge();
});
afterAll(async () => {
  await stack?.close();
});

describe("a client on one edge", () => {
  it("sends, receives once, and marks delivered", async () => {
    const ana = stack.client(edge.port, { auth: { user_id: "101" } });
    const luis = stack.client(edge.port, { auth: { user_id: "102" } });
    const received = collect(luis, "message");
    const delivered = collect(ana, "delivered");
    await Promise.all([online(ana), online(luis)]);
    expect(ana.userId).toBe("101");

    const stored = await ana.send({ to: "102", type: "directo", message: "hola" });
    expect(stored).toMatchObject({ status: "sent", saved_to_db: true, to: "102", sender_id: "101" });
    expect(stored.client_msg_id).toMatch(/.+/);
    expect(ana.pending()).toEqual([]);
    await waitFor(() => received.length === 1, 5000, "luis to receive");
    expect(received[0]).toMatchObject({ mensaje_id: stored.mensaje_id, from: "101", message: "hola" });
    await waitFor(() => delivered.length === 1, 5000, "the delivery receipt");
    expect(delivered[0]).toMatchObject({ mensaje_id: stored.mensaje_id, user_id: "102" });
  });

  it("rejects a refusal with the protocol's error, without retrying it", async () => {
    const ana = stack.client(edge.port, { auth: { user_id: "111" } });
    const failed = collect(ana, "failed");
    await online(ana);
    const err = await ana.send({ to: "111", type: "directo", message: "a mí mismo" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatError);
    expect(err).toMatchObject({ code: "INVALID_ID", event: "send_message" });
    expect(ana.pending()).toEqual([]);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.entry.attempts).toBe(1);
  });
});

describe("the protocol's calls", () => {
  it("groups, inbox, read markers, typing and presence", async () => {
    const ana = stack.client(edge.port, { auth: { user_id: "121" } });
    const luis = stack.client(edge.port, { auth: { user_id: "122" } });
    const atLuis = collect(luis, "message");
    const typing = collect(luis, "typing");
    const reads = collect(ana, "read");
    const markers = collect(luis, "readMarker");
    const presence = collect(ana, "presence");
    await Promise.all([online(ana), online(luis)]);

    await ana.joinGroup("9100");
    await luis.joinGroup("9100");
    const inGroup = await ana.send({ to: "9100", type: "grupal", message: "hola grupo" });
    const direct = await ana.send({ to: "122", type: "directo", message: "hola luis" });
    await waitFor(() => atLuis.length === 2, 5000, "both messages");
    expect(atLuis.map((m) => [m.type, m.to, m.message])).toEqual([
      ["grupal", "9100", "hola grupo"],
      ["directo", "122", "hola luis"],
    ]);

    const inbox = await luis.conversations({ limit: 10 });
    expect(inbox.conversations.map((c) => [c.type, c.to, c.unread])).toEqual([
      ["directo", "121", 1],
      ["grupal", "9100", 1],
    ]);
    expect(inbox.next_before).toBeNull();
    const page = await luis.history({ type: "grupal", to: "9100", limit: 1 });
    expect(page.messages.map((m) => m.mensaje_id)).toEqual([inGroup.mensaje_id]);

    expect(await luis.markReadUpTo(direct.sala_chat_id!, direct.mensaje_id!)).toMatchObject({ sala_chat_id: direct.sala_chat_id, read_up_to: direct.mensaje_id, unread: 0 });
    await expect(luis.markReadUpTo(inGroup.sala_chat_id!, direct.mensaje_id!)).rejects.toMatchObject({ code: "INVALID_ID" });
    await luis.markRead(inGroup.mensaje_id!);
    await waitFor(() => reads.length === 2 && markers.length >= 1, 5000, "read receipts and the marker");
    expect(reads.map((r) => r.mensaje_id).sort()).toEqual([direct.mensaje_id, inGroup.mensaje_id].sort());
    expect(markers[0]).toMatchObject({ sala_chat_id: direct.sala_chat_id, read_up_to: direct.mensaje_id, unread: 0 });

    ana.typing("directo", "122");
    await waitFor(() => typing.length === 1, 5000, "typing");
    ana.stopTyping("directo", "122");
    await waitFor(() => typing.length === 2, 5000, "typing_stop");
    expect(typing).toEqual([
      { from: "121", type: "directo", to: "122", active: true },
      { from: "121", type: "directo", to: "122", active: false },
    ]);

    const now = await ana.watchPresence(["122", "123"]);
    expect(now.map((p) => [p.user_id, p.online])).toEqual([
      ["122", true],
      ["123", false],
    ]);
    const carlos = stack.client(edge.port, { auth: { user_id: "123" } });
    await waitFor(() => presence.some((p) => p.user_id === "123" && p.online), 5000, "carlos online");
    await ana.unwatchPresence(["122", "123"]);
    carlos.close();
    await ana.leaveGroup("9100");
    await expect(ana.history({ type: "grupal", to: "9100" })).rejects.toMatchObject({ code: "NOT_A_MEMBER" });
  });
});

describe("a long catch-up", () => {
  it("is confirmed in full: a few confirmations in flight, the edge's refusals retried", async () => {
    const ana = stack.client(edge.port, { auth: { user_id: "131" } });
    const delivered = collect(ana, "delivered");
    await online(ana);
    const acks = await Promise.all(Array.from({ length: 150 }, (_, i) => ana.send({ to: "132", type: "directo", message: `pendiente ${i}` })));

    // Luis connects to 150 stored messages: the replay, and as many confirmations.
    const luis = stack.client(edge.port, { auth: { user_id: "132" } });
    const received = collect(luis, "message");
    await waitFor(() => delivered.length === 150, 20_000, "every delivery receipt");
    expect(received.map((m) => m.mensaje_id)).toEqual(acks.map((a) => a.mensaje_id));
    expect(new Set(delivered.map((d) => d.mensaje_id)).size).toBe(150);
  });
});
