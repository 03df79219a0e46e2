import { Code } from "@connectrpc/connect";
import { onBehalfOf } from "@redup/kit";
import { codeOf, explainPlan, waitFor, withClient } from "@redup/kit/testing";
import { MessageType, type Conversation } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONVERSATION_PAGE } from "../src/db/conversations.js";
import { startTestSystem, type TestSystem } from "./system.js";

let sys: TestSystem;

const query = (sql: string, params: unknown[] = []) => withClient(sys.db.url, async (c) => (await c.query(sql, params)).rows);
const send = async (senderId: bigint, to: bigint, content: string, type = RoomType.DIRECTO) =>
  (await sys.clients.messages.sendMessage({ senderId, to, type, content, messageType: MessageType.TEXTO })).message!;
/** The hand-off to delivery runs after the answer: wait until the user's unread rows exist. */
const recorded = (messageId: bigint, userId: bigint) =>
  waitFor(
    async () => (await query("select 1 from destinatarios_mensaje where mensaje_id = $1 and destinatario_id = $2", [String(messageId), String(userId)])).length > 0,
    10_000,
    `message ${messageId} recorded for ${userId}`,
  );
const summary = (c: Conversation) => [c.type === RoomType.GRUPAL ? "grupal" : "directo", c.peerOrGroupId, c.lastMessage?.content ?? null, c.unread, c.readUpTo];

beforeAll(async () => {
  sys = await startTestSystem();
});

afterAll(async () => {
  await sys?.close();
});

describe("GetConversations", () => {
  it("lists a user's rooms by last activity, with the last message, unread count and read marker", async () => {
    // A group joined before anyone wrote: its room is in the inbox, empty, with its creation time.
    await sys.clients.rooms.joinGroup({ groupId: 851n, userId: 801n });
    const m1 = await send(802n, 801n, "hola");
    await send(801n, 802n, "¿qué tal?");
    const m3 = await send(802n, 801n, "bien");
    const m4 = await send(803n, 801n, "¿vienes?");
    for (const userId of [801n, 804n]) await sys.clients.rooms.joinGroup({ groupId: 850n, userId });
    const m5 = await send(804n, 850n, "reunión a las 10", RoomType.GRUPAL);
    for (const [m, user] of [
      [m1, 801n],
      [m3, 801n],
      [m4, 801n],
      [m5, 801n],
    ] as const)
      await recorded(m.id, user);

    const first = await sys.clients.messages.getConversations({ userId: 801n });
    expect(first.conversations.map(summary)).toEqual([
      ["grupal", 850n, "reunión a las 10", 1, 0n],
      ["directo", 803n, "¿vienes?", 1, 0n],
      ["directo", 802n, "bien", 2, 0n],
      ["grupal", 851n, null, 0, 0n],
    ]);
    expect(first.nextPageToken).toBe("");
    const [group, , pair] = first.conversations;
    expect(group!.roomId).toBe(m5.roomId);
    expect(pair!.lastMessage).toMatchObject({ id: m3.id, senderId: 802n, to: 801n, roomType: RoomType.DIRECTO });
    expect(group!.lastMessage).toMatchObject({ id: m5.id, senderId: 804n, to: 850n, roomType: RoomType.GRUPAL });
    const activities = first.conversations.map((c) => Number(c.lastActivity!.seconds) * 1e9 + c.lastActivity!.nanos);
    expect([...activities].sort((a, b) => b - a)).toEqual(activities);

    // Edits and deletes show in the last message; reading moves the count and the marker.
    await sys.clients.messages.editMessage({ messageId: m3.id, userId: 802n, content: "muy bien" });
    await sys.clients.messages.deleteMessage({ messageId: m5.id, userId: 804n });
    await sys.clients.delivery.markReadUpTo({ messageId: m3.id, userId: 801n });
    const second = await sys.clients.messages.getConversations({ userId: 801n });
    expect(second.conversations.map(summary)).toEqual([
      ["grupal", 850n, "", 1, 0n],
      ["directo", 803n, "¿vienes?", 1, 0n],
      ["directo", 802n, "muy bien", 0, m3.id],
      ["grupal", 851n, null, 0, 0n],
    ]);
    expect(second.conversations[0]!.lastMessage!.deletedAt).toBeDefined();
    expect(second.conversations[2]!.lastMessage!.editedAt).toBeDefined();

    // A new message brings its room to the top; the peer sees the same room from its side.
    await send(802n, 801n, "¿y tú?");
    expect((await sys.clients.messages.getConversations({ userId: 801n })).conversations[0]!.peerOrGroupId).toBe(802n);
    const theirs = await sys.clients.messages.getConversations({ userId: 802n });
    expect(theirs.conversations.map((c) => [c.peerOrGroupId, c.lastMessage?.content, c.lastMessage?.to])).toEqual([[801n, "¿y tú?", 801n]]);
    expect((await sys.clients.messages.getConversations({ userId: 899n })).conversations).toEqual([]);
  });

  it("pages by activity without skipping or repeating a room, also among rooms with the same time", async () => {
    // 7 rooms of 810 created in one statement (one creation time, no messages) and 3 with messages.
    await query("insert into salas_chat (tipo_sala, usuario_a_id, usuario_b_id) select 'directo', 810, 20000 + g from generate_series(1, 7) g");
    for (const peer of [811n, 812n, 813n]) await send(peer, 810n, `de ${peer}`);
    const seen: bigint[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await sys.clients.messages.getConversations({ userId: 810n, pageSize: 3, pageToken: token });
      expect(page.conversations.length).toBeLessThanOrEqual(3);
      seen.push(...page.conversations.map((c) => c.roomId));
      token = page.nextPageToken;
      pages++;
    } while (token !== "" && pages < 10);
    expect(pages).toBe(4);
    expect(new Set(seen).size).toBe(10);
    const all = await sys.clients.messages.getConversations({ userId: 810n, pageSize: 100 });
    expect(all.conversations.map((c) => c.roomId)).toEqual(seen);
    expect(all.conversations.slice(0, 3).map((c) => c.peerOrGroupId)).toEqual([813n, 812n, 811n]);
  });

  it("answers only the acting user, and refuses bad input", async () => {
    expect(await codeOf(sys.clients.messages.getConversations({ userId: 801n }, onBehalfOf(802n)))).toBe(Code.PermissionDenied);
    expect((await sys.clients.messages.getConversations({ userId: 801n }, onBehalfOf(801n))).conversations.length).toBeGreaterThan(0);
    expect(await codeOf(sys.clients.messages.getConversations({ userId: 0n }))).toBe(Code.InvalidArgument);
    expect(await codeOf(sys.clients.messages.getConversations({ userId: 801n, pageSize: 101 }))).toBe(Code.InvalidArgument);
    expect(await codeOf(sys.clients.messages.getConversations({ userId: 801n, pageSize: -1 }))).toBe(Code.InvalidArgument);
    for (const pageToken of ["x", "12", "1:0", "1:2:3", "-5:3"])
      expect(await codeOf(sys.clients.messages.getConversations({ userId: 801n, pageToken }))).toBe(Code.InvalidArgument);
  });

  it("finds activity and last messages by primary key and room index, never scanning messages (EXPLAIN)", async () => {
    // 2,000 rooms × 100 messages, and the sequence rows of 200,000 rooms (a big deployment).
    await query(`insert into mensajes (sala_chat_id, remitente_id, contenido) select 700000 + g % 2000, 1, 'x' from generate_series(1, 200000) g`);
    await query(`insert into salas_secuencia (sala_chat_id, ultimo_seq, ultimo_en) select 700000 + g, 100, now() - g * interval '1 second' from generate_series(0, 199999) g
      on conflict do nothing`);
    await query("analyze mensajes");
    await query("analyze salas_secuencia");
    const rooms = Array.from({ length: 500 }, (_, i) => String(700000 + i * 4));
    const created = rooms.map(() => new Date().toISOString());
    const plan = await explainPlan(sys.db.url, CONVERSATION_PAGE, [`{${rooms.join(",")}}`, `{${created.map((c) => `"${c}"`).join(",")}}`, null, null, 21]);
    expect(plan.filter((n) => n.type === "Seq Scan").map((n) => n.relation)).toEqual([]);
    const indexes = plan.map((n) => n.index).filter(Boolean);
    expect(indexes).toEqual(expect.arrayContaining(["salas_secuencia_pkey", "mensajes_sala_id_idx"]));
  });
});
