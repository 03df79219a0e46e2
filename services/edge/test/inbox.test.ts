/**
 * The inbox, read markers, typing and presence across two edges, with real sockets, the real
 * services, PostgreSQL and NATS. "Nothing arrived" checks use a barrier: a later event that
 * must arrive, published after the one that must not, on the same NATS connection.
 */
import { waitFor } from "@redup/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConversationsReply, PresenceEvent, PresenceWatchedReply, ReadMarkerEvent, ReadReply, TypingEvent } from "../src/events.js";
import type { EdgeServer } from "../src/index.js";
import { call, collect, connectUser, next, startStack, until, type ClientSocket, type Stack } from "./harness.js";

let stack: Stack;
let east: EdgeServer;
let west: EdgeServer;

beforeAll(async () => {
  // Delivery takes an edge silent for 1.5 s for dead; edges beat every 300 ms.
  stack = await startStack({ PRESENCE_EDGE_TIMEOUT_MS: "1500" });
  const edgeEnv = { PRESENCE_HEARTBEAT_MS: "300", PRESENCE_GRACE_MS: "1500", TYPING_TTL_MS: "800" };
  east = await stack.startEdge({ ...edgeEnv, EDGE_ID: "inbox-east" });
  west = await stack.startEdge({ ...edgeEnv, EDGE_ID: "inbox-west" });
});
afterAll(async () => {
  await stack?.close();
});

const send = (socket: ClientSocket, to: number, message: string, type = "directo") => call<{ mensaje_id: string; sala_chat_id: string }>(socket, "send_message", { to, message, type });
/** Waits until delivery recorded a message for its recipient (the hand-off follows the ACK). */
const recorded = (mensajeId: string, userId: number) =>
  waitFor(async () => (await stack.query("select 1 from destinatarios_mensaje where mensaje_id = $1 and destinatario_id = $2", [mensajeId, userId])).length > 0, 10_000, `message ${mensajeId} recorded`);

describe("get_conversations", () => {
  it("lists the user's rooms by activity, with last message, unread counts and markers, paged", async () => {
    const me = await connectUser(east, 5001);
    const bea = await connectUser(west, 5002);
    const carl = await connectUser(west, 5003);
    await call(me.socket, "join_group", { group_id: 5900 });
    await call(carl.socket, "join_group", { group_id: 5900 });
    const m1 = await send(bea.socket, 5001, "hola");
    const m2 = await send(bea.socket, 5001, "¿estás?");
    const m3 = await send(carl.socket, 5900, "reunión", "grupal");
    await send(carl.socket, 5001, "soy Carl");
    for (const m of [m1, m2, m3]) await recorded(m.mensaje_id, 5001);

    const page = await call<ConversationsReply>(me.socket, "get_conversations", {});
    expect(page.status).toBe("ok");
    expect(page.next_before).toBeNull();
    expect(page.conversations.map((c) => [c.type, c.to, c.last_message?.message, c.unread, c.read_up_to])).toEqual([
      ["directo", "5003", "soy Carl", 1, null],
      ["grupal", "5900", "reunión", 1, null],
      ["directo", "5002", "¿estás?", 2, null],
    ]);
    const pair = page.conversations[2]!;
    expect(pair.sala_chat_id).toBe(m1.sala_chat_id);
    expect(pair.last_message).toMatchObject({ from: "5002", to: "5001", mensaje_id: m2.mensaje_id, type: "directo", editado_en: null, eliminado_en: null });
    expect(pair.last_activity).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);

    // Pages of one, with the cursor; the reply event carries the same.
    const replies = collect<ConversationsReply>(me.socket, "conversations");
    const first = await call<ConversationsReply>(me.socket, "get_conversations", { limit: 1 });
    const second = await call<ConversationsReply>(me.socket, "get_conversations", { limit: 1, before: first.next_before });
    const third = await call<ConversationsReply>(me.socket, "get_conversations", { limit: 2, before: second.next_before });
    expect([first, second, third].flatMap((p) => p.conversations.map((c) => c.to))).toEqual(["5003", "5900", "5002"]);
    expect(third.next_before).toBeNull();
    await until(replies, 3);
    expect(replies[0]).toEqual(first);

    for (const bad of [{ limit: 0 }, { limit: 101 }, { limit: "5" }, { before: "x" }, { before: 12 }, "nada"]) {
      const refused = await call<{ status: string; code: string }>(me.socket, "get_conversations", bad);
      expect(refused).toMatchObject({ status: "error", code: "INVALID_PAYLOAD" });
    }
    for (const s of [me, bea, carl]) s.socket.disconnect();
  });
});

describe("mark_read up to a message", () => {
  it("reads the room up to it, tells each sender once, moves the user's badges on every device", async () => {
    const phone = await connectUser(east, 5101);
    const laptop = await connectUser(west, 5101);
    const sender = await connectUser(west, 5102);
    const sent = [];
    for (const text of ["uno", "dos", "tres", "cuatro"]) sent.push(await send(sender.socket, 5101, text));
    for (const m of sent) await recorded(m.mensaje_id, 5101);

    const receipts = collect<{ mensaje_id: string; user_id: string }>(sender.socket, "message_read");
    const markersOnLaptop = collect<ReadMarkerEvent>(laptop.socket, "read_marker");
    const markersOnPhone = collect<ReadMarkerEvent>(phone.socket, "read_marker");
    const reply = await call<ReadReply>(phone.socket, "mark_read", { mensaje_id: sent[2]!.mensaje_id, up_to: true });
    expect(reply).toEqual({ status: "ok", mensaje_id: sent[2]!.mensaje_id, user_id: "5101", sala_chat_id: sent[0]!.sala_chat_id, read_up_to: sent[2]!.mensaje_id, unread: 1 });
    await until(markersOnLaptop, 1);
    expect(markersOnLaptop[0]).toEqual({ sala_chat_id: sent[0]!.sala_chat_id, read_up_to: sent[2]!.mensaje_id, unread: 1 });
    await until(markersOnPhone, 1);
    await until(receipts, 3);
    expect(receipts.map((r) => r.mensaje_id).sort()).toEqual(sent.slice(0, 3).map((m) => m.mensaje_id).sort());

    // Again, and an older one: nothing new is read, the marker stays. Then a single read of the
    // last message: one receipt, the marker moves, the badge goes to 0.
    expect(await call<ReadReply>(laptop.socket, "mark_read", { mensaje_id: sent[2]!.mensaje_id, up_to: true })).toMatchObject({ read_up_to: sent[2]!.mensaje_id, unread: 1 });
    expect(await call<ReadReply>(laptop.socket, "mark_read", { mensaje_id: sent[0]!.mensaje_id, up_to: true })).toMatchObject({ read_up_to: sent[2]!.mensaje_id, unread: 1 });
    expect(await call<ReadReply>(laptop.socket, "mark_read", { mensaje_id: sent[3]!.mensaje_id })).toEqual({ status: "ok", mensaje_id: sent[3]!.mensaje_id, user_id: "5101" });
    await until(markersOnLaptop, 2);
    expect(markersOnLaptop[1]).toEqual({ sala_chat_id: sent[0]!.sala_chat_id, read_up_to: sent[3]!.mensaje_id, unread: 0 });
    await until(receipts, 4);
    // The fourth receipt is the last message's: the repeats above announced nothing.
    expect(receipts.map((r) => r.mensaje_id).sort()).toEqual(sent.map((m) => m.mensaje_id).sort());
    const inbox = await call<ConversationsReply>(phone.socket, "get_conversations", {});
    expect(inbox.conversations[0]).toMatchObject({ to: "5102", unread: 0, read_up_to: sent[3]!.mensaje_id });

    // Only recipients mark; bad input is refused.
    expect(await call(sender.socket, "mark_read", { mensaje_id: sent[0]!.mensaje_id, up_to: true })).toMatchObject({ status: "error", code: "NOT_A_RECIPIENT" });
    expect(await call(phone.socket, "mark_read", { mensaje_id: sent[0]!.mensaje_id, up_to: "sí" })).toMatchObject({ status: "error", code: "INVALID_PAYLOAD" });
    expect(await call(phone.socket, "mark_read", { mensaje_id: "999999999", up_to: true })).toMatchObject({ status: "error", code: "MESSAGE_NOT_FOUND" });
    expect(await call(phone.socket, "mark_read", { mensaje_id: sent[0]!.mensaje_id, user_id: 5102, up_to: true })).toMatchObject({ status: "error", code: "USER_MISMATCH" });
    for (const s of [phone, laptop, sender]) s.socket.disconnect();
  });
});

describe("typing", () => {
  it("reaches the peer on the other edge, and ends by itself without a refresh", async () => {
    const ana = await connectUser(east, 5201);
    const ben = await connectUser(west, 5202);
    const typing = collect<TypingEvent>(ben.socket, "typing");
    const stops = collect<TypingEvent>(ben.socket, "typing_stop");
    expect(await call(ana.socket, "typing", { type: "directo", to: 5202 })).toEqual({ status: "ok" });
    await until(typing, 1);
    expect(typing[0]).toEqual({ from: "5201", type: "directo", to: "5202" });
    // No refresh: the receiving edge ends it after TYPING_TTL_MS (0.8 s here).
    await until(stops, 1, 5000);
    expect(stops[0]).toEqual({ from: "5201", type: "directo", to: "5202" });
    // An explicit stop ends it at once.
    await call(ana.socket, "typing", { type: "directo", to: "5202" });
    await until(typing, 2);
    await call(ana.socket, "typing_stop", { type: "directo", to: "5202" });
    await until(stops, 2);
    for (const s of [ana, ben]) s.socket.disconnect();
  });

  it("reaches the group's other members on every edge, never the typer's own sockets", async () => {
    const typerHere = await connectUser(east, 5301);
    const typerThere = await connectUser(west, 5301);
    const other = await connectUser(west, 5302);
    const witness = await connectUser(east, 5303);
    for (const s of [typerHere, other, witness]) await call(s.socket, "join_group", { group_id: 5950 });
    await waitFor(() => west.context.fanout.userInGroup("5301", "5950"), 5000, "the join to reach the other edge");
    const atOther = collect<TypingEvent>(other.socket, "typing");
    const atTyper = collect<TypingEvent>(typerThere.socket, "typing");
    await call(typerHere.socket, "typing", { type: "grupal", to: 5950 });
    // The barrier: the witness types next, through the same edge (so the same NATS connection).
    await call(witness.socket, "typing", { type: "grupal", to: 5950 });
    await until(atOther, 2);
    expect(atOther).toEqual([
      { from: "5301", type: "grupal", to: "5950" },
      { from: "5303", type: "grupal", to: "5950" },
    ]);
    await until(atTyper, 1);
    expect(atTyper).toEqual([{ from: "5303", type: "grupal", to: "5950" }]);

    const outsider = await connectUser(east, 5399);
    expect(await call(outsider.socket, "typing", { type: "grupal", to: 5950 })).toMatchObject({ status: "error", code: "NOT_A_MEMBER" });
    expect(await call(outsider.socket, "typing", { type: "directo", to: 5399 })).toMatchObject({ status: "error", code: "INVALID_ID" });
    expect(await call(outsider.socket, "typing", { type: "canal", to: 1 })).toMatchObject({ status: "error", code: "INVALID_TYPE" });
    for (const s of [typerHere, typerThere, other, witness, outsider]) s.socket.disconnect();
  });

  it("is rate limited per socket", async () => {
    const a = await connectUser(east, 5401);
    const replies = [];
    for (let i = 0; i < 8; i++) replies.push(await call<{ status: string; code?: string }>(a.socket, "typing", { type: "directo", to: 5402 }));
    expect(replies.slice(0, 5).every((r) => r.status === "ok")).toBe(true);
    expect(replies.some((r) => r.code === "RATE_LIMITED")).toBe(true);
    // Another socket of the same user has its own budget.
    const b = await connectUser(east, 5401);
    expect(await call(b.socket, "typing", { type: "directo", to: 5402 })).toEqual({ status: "ok" });
    for (const s of [a, b]) s.socket.disconnect();
  });
});

describe("presence", () => {
  it("answers the state now, then every change from any edge; a quick reconnect is no change", async () => {
    const watcher = await connectUser(east, 5501);
    const changes = collect<PresenceEvent>(watcher.socket, "presence");
    const now = await call<PresenceWatchedReply>(watcher.socket, "watch_presence", { user_ids: [5502, "5503", 5502] });
    expect(now.status).toBe("ok");
    expect(now.presences).toEqual([
      { user_id: "5502", online: false, last_seen: null },
      { user_id: "5503", online: false, last_seen: null },
    ]);

    // 5502 comes online on the other edge, then on this one too: one event.
    const first = await connectUser(west, 5502);
    await until(changes, 1);
    expect(changes[0]).toMatchObject({ user_id: "5502", online: true });
    const second = await connectUser(east, 5502);
    // Leaves one edge: still online. A reconnect within the grace period: nothing either.
    first.socket.disconnect();
    const back = await connectUser(west, 5502);
    second.socket.disconnect();
    back.socket.disconnect();
    const offline = await next<PresenceEvent>(watcher.socket, "presence", 10_000);
    expect(offline.user_id).toBe("5502");
    expect(offline.online).toBe(false);
    expect(offline.last_seen).toMatch(/^\d{4}-\d\d-\d\dT/);
    // Exactly one online and one offline for all those sockets.
    expect(changes.map((c) => c.online)).toEqual([true, false]);

    // last_seen is kept: a new watcher reads it.
    const later = await connectUser(west, 5504);
    const read = await call<PresenceWatchedReply>(later.socket, "watch_presence", { user_ids: [5502] });
    expect(read.presences).toEqual([{ user_id: "5502", online: false, last_seen: offline.last_seen }]);

    // Unwatched: no more events. The barrier: 5503, still watched, comes online after 5502.
    expect(await call(watcher.socket, "unwatch_presence", { user_ids: [5502] })).toEqual({ status: "ok", user_ids: ["5502"] });
    await connectUser(west, 5502);
    await connectUser(west, 5503);
    await until(changes, 3);
    expect(changes[2]).toMatchObject({ user_id: "5503", online: true });
    expect(changes).toHaveLength(3);
    for (const s of [watcher, later]) s.socket.disconnect();
  });

  it("bounds the watch list and refuses bad input", async () => {
    const w = await connectUser(east, 5601);
    const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
    expect((await call<PresenceWatchedReply>(w.socket, "watch_presence", { user_ids: ids(100_000, 150) })).presences).toHaveLength(150);
    expect(await call(w.socket, "watch_presence", { user_ids: ids(200_000, 51) })).toMatchObject({ status: "error", code: "TOO_MANY_WATCHED" });
    expect(await call(w.socket, "watch_presence", { user_ids: ids(100_000, 150) })).toMatchObject({ status: "ok" });
    for (const bad of [{ user_ids: [] }, { user_ids: ids(1, 201) }, { user_ids: "5" }, {}]) expect(await call(w.socket, "watch_presence", bad)).toMatchObject({ code: "INVALID_PAYLOAD" });
    expect(await call(w.socket, "watch_presence", { user_ids: [1, -2] })).toMatchObject({ code: "INVALID_ID" });
    // One subscription per watched user on the edge, given back when the socket goes.
    expect(east.context.presence.watchedCount).toBeGreaterThanOrEqual(150);
    w.socket.disconnect();
    await waitFor(() => east.context.presence.watchedCount < 150, 5000, "the watches to be dropped");
  });

  it("takes the users of a stopped edge offline", async () => {
    const extra = await stack.startEdge({ PRESENCE_HEARTBEAT_MS: "300", EDGE_ID: "inbox-extra" });
    const watcher = await connectUser(west, 5701);
    const changes = collect<PresenceEvent>(watcher.socket, "presence");
    await call<PresenceWatchedReply>(watcher.socket, "watch_presence", { user_ids: [5702] });
    await connectUser(extra, 5702);
    await until(changes, 1, 10_000);
    expect(changes[0]).toMatchObject({ user_id: "5702", online: true });
    // A graceful stop lets go of its users at once (a crash is covered in tests/: the heartbeat).
    await extra.close();
    await until(changes, 2, 10_000);
    expect(changes[1]).toMatchObject({ user_id: "5702", online: false });
    watcher.socket.disconnect();
  });
});
