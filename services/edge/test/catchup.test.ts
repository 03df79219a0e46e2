/**
 * Offline catch-up and the protocol's additions: pending messages replayed on connect,
 * oldest first and before live ones, nothing replayed once marked delivered; persisted
 * groups re-joined; read receipts; history; edit and delete.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EdgeServer } from "../src/index.js";
import { call, collect, connectUser, next, startStack, until, type ClientSocket, type Stack } from "./harness.js";

/** A confirmation's answer, as the callback gets it: `ok` with the message id, or an error. */
type Reply = { status: string; mensaje_id?: string };

let stack: Stack;
let edge: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge();
});
afterAll(async () => {
  await stack?.close();
});

/**
 * Connects `userId` and checks that catch-up replays nothing. The barrier: a live message from
 * `sender`, held back until the catch-up is over (the first test shows it); once it is in, any
 * replay would have come before it.
 */
async function expectNoReplay(userId: number, sender: ClientSocket): Promise<void> {
  const user = await connectUser(edge, userId);
  const received = collect<Record<string, unknown>>(user.socket, "receive_message");
  const live = await call(sender, "send_message", { to: userId, message: "barrera", type: "directo" });
  await until(received, 1);
  expect(received.map((m) => m["mensaje_id"])).toEqual([live["mensaje_id"]]);
  user.socket.disconnect();
}

describe("catch-up", () => {
  it("replays pending messages oldest first on reconnect, and never again once marked delivered", async () => {
    const sender = await connectUser(edge, 2001);
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push((await call(sender.socket, "send_message", { to: 2002, message: `offline ${i}`, type: "directo" }))["mensaje_id"] as string);

    const first = await connectUser(edge, 2002);
    const replay = collect<Record<string, unknown>>(first.socket, "receive_message");
    await until(replay, 5);
    expect(replay.map((m) => m["mensaje_id"])).toEqual(sent);
    expect(replay[0]).toMatchObject({ from: "2001", to: "2002", message: "offline 0", type: "directo" });

    // Mark three delivered; only the other two come back on the next connect.
    for (const id of sent.slice(0, 3)) await call(first.socket, "mark_delivered", { mensaje_id: id, user_id: "2002" });
    first.socket.disconnect();
    const second = await connectUser(edge, 2002);
    const again = collect<Record<string, unknown>>(second.socket, "receive_message");
    await until(again, 2);
    // A live message after the replay arrives after it.
    await call(sender.socket, "send_message", { to: 2002, message: "en vivo", type: "directo" });
    await until(again, 3);
    expect(again.map((m) => m["message"])).toEqual(["offline 3", "offline 4", "en vivo"]);
    for (const id of [...sent.slice(3), again[2]!["mensaje_id"]]) await call(second.socket, "mark_delivered", { mensaje_id: id });
    second.socket.disconnect();

    await expectNoReplay(2002, sender.socket);
    sender.socket.disconnect();
  });

  it("confirms a catch-up of 200 messages as a guide client does, one event each, all at once; the next event sees them applied", async () => {
    const sender = await connectUser(edge, 2351);
    const sent: string[] = [];
    for (let batch = 0; batch < 4; batch++) {
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => call(sender.socket, "send_message", { to: 2352, message: `pendiente ${batch * 50 + i}`, type: "directo", client_msg_id: `cu-${batch}-${i}` })));
      sent.push(...replies.map((r) => r["mensaje_id"] as string));
    }

    // Each message confirmed the moment it arrives, without waiting for the previous answer:
    // more confirmations than a socket may have ordinary events waiting (64).
    const me = await connectUser(edge, 2352);
    const delivered: Reply[] = [];
    const replay = collect<Record<string, unknown>>(me.socket, "receive_message");
    me.socket.on("receive_message", (m) => {
      me.socket.emit("mark_delivered", { mensaje_id: String(m.mensaje_id) }, (reply) => delivered.push(reply));
    });
    await until(replay, 200);
    await until(delivered, 200, 10_000);
    expect(delivered.filter((r) => r.status !== "ok")).toEqual([]);
    expect(new Set(delivered.map((r) => r.mensaje_id))).toEqual(new Set(sent));

    // All read at once, and the inbox asked right behind them, unawaited: it counts them.
    const read: Reply[] = [];
    for (const id of sent) me.socket.emit("mark_read", { mensaje_id: id }, (reply) => read.push(reply));
    const inbox = await call<{ conversations: { type: string; to: string; unread: number }[] }>(me.socket, "get_conversations", {});
    expect(read).toHaveLength(200);
    expect(read.filter((r) => r.status !== "ok")).toEqual([]);
    expect(inbox.conversations.find((c) => c.type === "directo" && c.to === "2351")).toMatchObject({ unread: 0 });
    const unread = await stack.query("select count(*)::int as n from destinatarios_mensaje where destinatario_id = 2352 and leido_en is null");
    expect(unread[0]!["n"]).toBe(0);
    me.socket.disconnect();

    // Every confirmation took: the next connect replays nothing.
    await expectNoReplay(2352, sender.socket);
    sender.socket.disconnect();
  });

  it("re-joins persisted groups on connect, and replays group messages sent while offline", async () => {
    const a = await connectUser(edge, 2101);
    const b = await connectUser(edge, 2102);
    await call(a.socket, "join_group", { group_id: 4100 });
    await call(b.socket, "join_group", { group_id: 4100 });
    b.socket.disconnect();
    const offline = await call(a.socket, "send_message", { to: 4100, message: "mientras no estabas", type: "grupal" });

    const back = await connectUser(edge, 2102);
    const got = collect<Record<string, unknown>>(back.socket, "receive_message");
    await until(got, 1);
    expect(got[0]).toMatchObject({ mensaje_id: offline["mensaje_id"], to: "4100", type: "grupal" });
    // Without emitting join_group again, live group messages arrive.
    await call(a.socket, "send_message", { to: 4100, message: "ya de vuelta", type: "grupal" });
    await until(got, 2);
    expect(got[1]).toMatchObject({ message: "ya de vuelta" });
    a.socket.disconnect();
    back.socket.disconnect();
  });
});

describe("the protocol's additions", () => {
  it("mark_read sets leido_en and tells the sender", async () => {
    const s = await connectUser(edge, 2201);
    const r = await connectUser(edge, 2202);
    const incoming = next<Record<string, unknown>>(r.socket, "receive_message");
    await call(s.socket, "send_message", { to: 2202, message: "léeme", type: "directo" });
    const msg = await incoming;
    const receipt = next<Record<string, unknown>>(s.socket, "message_read");
    const readEvent = next(r.socket, "read");
    expect(await call(r.socket, "mark_read", { mensaje_id: msg["mensaje_id"] })).toEqual({ status: "ok", mensaje_id: msg["mensaje_id"], user_id: "2202" });
    expect(await readEvent).toMatchObject({ status: "ok" });
    expect(await receipt).toMatchObject({ mensaje_id: msg["mensaje_id"], user_id: "2202", leido_en: expect.any(String) });
    const [row] = await stack.query("select leido_en, entregado_en from destinatarios_mensaje where mensaje_id = $1", [msg["mensaje_id"]]);
    expect(row!["leido_en"]).toBeInstanceOf(Date);
    expect(row!["entregado_en"]).toBeInstanceOf(Date);
    s.socket.disconnect();
    r.socket.disconnect();
  });

  it("get_history pages newest first, for rooms the user belongs to", async () => {
    const s = await connectUser(edge, 2301);
    for (let i = 0; i < 5; i++) await call(s.socket, "send_message", { to: 2302, message: `h${i}`, type: "directo" });
    const historyEvent = next(s.socket, "history");
    const page1 = await call(s.socket, "get_history", { type: "directo", to: "2302", limit: 2 });
    expect(await historyEvent).toEqual(page1);
    expect((page1["messages"] as Record<string, unknown>[]).map((m) => m["message"])).toEqual(["h4", "h3"]);
    const page2 = await call(s.socket, "get_history", { type: "directo", to: "2302", limit: 3, before_id: page1["next_before_id"] });
    expect((page2["messages"] as Record<string, unknown>[]).map((m) => m["message"])).toEqual(["h2", "h1", "h0"]);
    expect(page2["next_before_id"]).toBeNull();
    // The peer sees the same conversation.
    const peer = await connectUser(edge, 2302);
    const seen = await call(peer.socket, "get_history", { type: "directo", to: 2301 });
    expect((seen["messages"] as unknown[]).length).toBe(5);
    s.socket.disconnect();
    peer.socket.disconnect();
  });

  it("edit_message and delete_message change the stored message, only for its sender", async () => {
    const s = await connectUser(edge, 2401);
    const ack = await call(s.socket, "send_message", { to: 2402, message: "con erorr", type: "directo" });
    const edited = await call(s.socket, "edit_message", { mensaje_id: ack["mensaje_id"], message: "sin error" });
    expect(edited).toMatchObject({ status: "ok", mensaje_id: ack["mensaje_id"], message: "sin error", editado_en: expect.any(String) });
    const deleted = await call(s.socket, "delete_message", { mensaje_id: ack["mensaje_id"] });
    expect(deleted).toMatchObject({ status: "ok", mensaje_id: ack["mensaje_id"], eliminado_en: expect.any(String) });
    const [row] = await stack.query("select contenido, editado_en, eliminado_en from mensajes where id = $1", [ack["mensaje_id"]]);
    expect(row).toMatchObject({ contenido: "sin error" });
    expect(row!["editado_en"]).toBeInstanceOf(Date);
    expect(row!["eliminado_en"]).toBeInstanceOf(Date);
    expect(await call(s.socket, "edit_message", { mensaje_id: ack["mensaje_id"], message: "otra vez" })).toMatchObject({ status: "error", code: "MESSAGE_DELETED" });
    // A deleted message is not replayed to its recipient.
    const r = await connectUser(edge, 2402);
    const got = collect<Record<string, unknown>>(r.socket, "receive_message");
    // The barrier: a live message comes after the catch-up; once it is in, the deleted one was not replayed.
    const live = await call(s.socket, "send_message", { to: 2402, message: "barrera", type: "directo" });
    await until(got, 1);
    expect(got.map((m) => m["mensaje_id"])).toEqual([live["mensaje_id"]]);
    s.socket.disconnect();
    r.socket.disconnect();
  });

  it("a retried client_msg_id gets the original ACK and delivers nothing new", async () => {
    const s = await connectUser(edge, 2501);
    const r = await connectUser(edge, 2502);
    const got = collect<Record<string, unknown>>(r.socket, "receive_message");
    const first = await call(s.socket, "send_message", { to: 2502, message: "una vez", type: "directo", client_msg_id: "retry-1" });
    const retry = await call(s.socket, "send_message", { to: 2502, message: "una vez", type: "directo", client_msg_id: "retry-1" });
    expect(retry).toEqual(first);
    expect(first["client_msg_id"]).toBe("retry-1");
    await until(got, 1);
    await call(s.socket, "send_message", { to: 2502, message: "marca", type: "directo" });
    await until(got, 2);
    expect(got.map((m) => m["message"])).toEqual(["una vez", "marca"]);
    expect(await stack.query("select count(*)::int as n from mensajes where remitente_id = 2501")).toEqual([{ n: 2 }]);
    s.socket.disconnect();
    r.socket.disconnect();
  });
});
