/**
 * Edits and deletes reach every member live on every edge, after the message itself, and a
 * member who was away learns of them from the change feed (`sync`), in order; past the
 * retention the feed says to reload.
 */
import { waitFor } from "@redup/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageRemovedEvent, MessageUpdatedEvent, ReceivedMessage, SyncedReply } from "../src/events.js";
import type { EdgeServer } from "../src/index.js";
import { call, collect, connectUser, startStack, until, type ClientSocket, type Stack } from "./harness.js";

let stack: Stack;
let east: EdgeServer;
let west: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  east = await stack.startEdge({ EDGE_ID: "changes-east" });
  west = await stack.startEdge({ EDGE_ID: "changes-west" });
});
afterAll(async () => {
  await stack?.close();
});

const send = (socket: ClientSocket, to: number, message: string, type = "directo") => call<{ mensaje_id: string; sala_chat_id: string }>(socket, "send_message", { to, message, type });

/**
 * `sync` from a cursor once it has `count` changes: a change is handed out when every older
 * transaction on the database server has ended, and other tests share that server.
 */
const syncOf = (socket: ClientSocket, since: string, count: number) =>
  waitFor(async () => {
    const page = await call<SyncedReply>(socket, "sync", { since });
    return page.changes.length >= count || page.too_far_behind ? page : undefined;
  }, 10_000, `${count} changes from sync`);

/** Every event of these names a socket gets, in arrival order, as [event, mensaje_id]. */
function timeline(socket: ClientSocket, events: string[]) {
  const seen: [string, string][] = [];
  for (const event of events) (socket as unknown as { on(e: string, l: (d: { mensaje_id: string }) => void): void }).on(event, (d) => seen.push([event, d.mensaje_id]));
  return seen;
}

describe("live edits and deletes", () => {
  it("reach the peer and the sender's other devices on every edge, after the message", async () => {
    const phone = await connectUser(east, 7001);
    const laptop = await connectUser(west, 7001);
    const peer = await connectUser(west, 7002);
    const atPeer = timeline(peer.socket, ["receive_message", "message_updated", "message_removed"]);
    const atLaptop = timeline(laptop.socket, ["receive_message", "message_updated", "message_removed"]);
    const atPhone = timeline(phone.socket, ["message_updated", "message_removed"]);
    const updates = collect<MessageUpdatedEvent>(peer.socket, "message_updated");
    const removals = collect<MessageRemovedEvent>(peer.socket, "message_removed");

    const m = await send(phone.socket, 7002, "primera versión");
    // Edited at once: the edit must still reach the peer after the message.
    const edited = await call<{ status: string; editado_en: string }>(phone.socket, "edit_message", { mensaje_id: m.mensaje_id, message: "segunda versión" });
    expect(edited.status).toBe("ok");
    const removed = await call<{ status: string; eliminado_en: string }>(phone.socket, "delete_message", { mensaje_id: m.mensaje_id });
    await until(atPeer, 3);
    expect(atPeer).toEqual([
      ["receive_message", m.mensaje_id],
      ["message_updated", m.mensaje_id],
      ["message_removed", m.mensaje_id],
    ]);
    expect(updates[0]).toEqual({ mensaje_id: m.mensaje_id, sala_chat_id: m.sala_chat_id, from: "7001", type: "directo", to: "7002", message: "segunda versión", editado_en: edited.editado_en });
    expect(removals[0]).toEqual({ mensaje_id: m.mensaje_id, sala_chat_id: m.sala_chat_id, from: "7001", type: "directo", to: "7002", eliminado_en: removed.eliminado_en });
    await until(atLaptop, 3);
    expect(atLaptop.map(([e]) => e)).toEqual(["receive_message", "message_updated", "message_removed"]);
    // The socket that asked has its replies, and the broadcast too.
    await until(atPhone, 2);
    for (const s of [phone, laptop, peer]) s.socket.disconnect();
  });

  it("reach every member of a group on both edges", async () => {
    const author = await connectUser(east, 7101);
    const there = await connectUser(west, 7102);
    const here = await connectUser(east, 7103);
    for (const s of [author, there, here]) await call(s.socket, "join_group", { group_id: 7900 });
    const atThere = timeline(there.socket, ["receive_message", "message_updated", "message_removed"]);
    const atHere = timeline(here.socket, ["receive_message", "message_updated", "message_removed"]);
    const g = await send(author.socket, 7900, "hola grupo", "grupal");
    await call(author.socket, "edit_message", { mensaje_id: g.mensaje_id, message: "hola, grupo" });
    await call(author.socket, "delete_message", { mensaje_id: g.mensaje_id });
    for (const seen of [atThere, atHere]) {
      await until(seen, 3);
      expect(seen).toEqual([
        ["receive_message", g.mensaje_id],
        ["message_updated", g.mensaje_id],
        ["message_removed", g.mensaje_id],
      ]);
    }
    // A delete is final: no more edits, and a second delete announces nothing.
    expect(await call(author.socket, "edit_message", { mensaje_id: g.mensaje_id, message: "resucitar" })).toMatchObject({ status: "error", code: "MESSAGE_DELETED" });
    for (const s of [author, there, here]) s.socket.disconnect();
  });
});

describe("sync, the change feed", () => {
  it("tells a member who was away of the new message, its edit and a delete of an older one, in order", async () => {
    const author = await connectUser(east, 7201);
    let reader = await connectUser(west, 7202);
    const old = await send(author.socket, 7202, "mensaje viejo");
    const first = await call<SyncedReply>(reader.socket, "sync", {});
    expect(first).toMatchObject({ status: "ok", changes: [], has_more: false, too_far_behind: false });
    reader.socket.disconnect();

    // While the reader is away: a new message, its edit, and the old one's deletion.
    const m = await send(author.socket, 7202, "nuevo");
    await call(author.socket, "edit_message", { mensaje_id: m.mensaje_id, message: "nuevo, editado" });
    await call(author.socket, "delete_message", { mensaje_id: old.mensaje_id });
    await call(author.socket, "mark_read", { mensaje_id: old.mensaje_id }).catch(() => undefined);

    reader = await connectUser(west, 7202);
    const caughtUp = collect<ReceivedMessage>(reader.socket, "receive_message");
    const page = await syncOf(reader.socket, first.cursor, 3);
    expect(page.too_far_behind).toBe(false);
    expect(page.changes.map((c) => [c.kind, c.mensaje_id, c.message?.message, c.message?.eliminado_en === null])).toEqual([
      ["message", m.mensaje_id, "nuevo, editado", true],
      ["edit", m.mensaje_id, "nuevo, editado", true],
      ["delete", old.mensaje_id, "", false],
    ]);
    expect(page.changes[0]!.message).toMatchObject({ from: "7201", to: "7202", type: "directo", sala_chat_id: m.sala_chat_id });
    // The cursor moves on: nothing is repeated next time.
    expect((await call<SyncedReply>(reader.socket, "sync", { since: page.cursor })).changes).toEqual([]);
    // Catch-up still replays the undelivered message as receive_message.
    await until(caughtUp, 1);
    expect(caughtUp[0]).toMatchObject({ mensaje_id: m.mensaje_id });

    // The author's own feed has the receipts of its messages.
    await call(reader.socket, "mark_read", { mensaje_id: m.mensaje_id });
    const authorFeed = await waitFor(async () => {
      const page = await call<SyncedReply>(author.socket, "sync", { since: first.cursor, limit: 500 });
      return page.changes.some((c) => c.kind === "read") ? page : undefined;
    }, 10_000, "the read receipt in the author's feed");
    expect(authorFeed.changes.filter((c) => c.kind === "read")).toEqual([expect.objectContaining({ kind: "read", mensaje_id: m.mensaje_id, user_id: "7202" })]);

    for (const bad of [{ since: "nada" }, { since: 5 }, { limit: 0 }, { limit: 501 }, "x"]) expect(await call(reader.socket, "sync", bad)).toMatchObject({ status: "error", code: "INVALID_PAYLOAD" });
    for (const s of [author, reader]) s.socket.disconnect();
  });
});

describe("a member away longer than the feed keeps changes", () => {
  let short: Stack;
  let edge: EdgeServer;
  beforeAll(async () => {
    // Changes are kept two seconds here.
    short = await startStack({ CHANGE_FEED_RETENTION_SECONDS: "2" });
    edge = await short.startEdge();
  });
  afterAll(async () => {
    await short?.close();
  });

  it("is told to reload history, with a cursor that works from now on", async () => {
    const author = await connectUser(edge, 7301);
    const reader = await connectUser(edge, 7302);
    const start = await call<SyncedReply>(reader.socket, "sync", {});
    const lost = await send(author.socket, 7302, "se perderá en el feed");
    await waitFor(async () => (await short.query("select 1 from cambios_sala where mensaje_id = $1", [lost.mensaje_id])).length === 0, 15_000, "its change to be pruned");
    const late = await call<SyncedReply>(reader.socket, "sync", { since: start.cursor });
    expect(late).toMatchObject({ status: "ok", changes: [], too_far_behind: true });
    const m = await send(author.socket, 7302, "nuevo");
    const fresh = await syncOf(reader.socket, late.cursor, 1);
    expect(fresh.too_far_behind).toBe(false);
    expect(fresh.changes.map((c) => [c.kind, c.mensaje_id])).toEqual([["message", m.mensaje_id]]);
    for (const s of [author, reader]) s.socket.disconnect();
  });
});
