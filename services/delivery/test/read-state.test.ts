import { Code } from "@connectrpc/connect";
import { onBehalfOf } from "@redup/kit";
import { codeOf, explainPlan } from "@redup/kit/testing";
import { ReceiptKind } from "@redup/proto/redup/events/v1/events_pb";
import { describe, expect, it } from "vitest";
import { READ_STATE, MARK_READ_UP_TO } from "../src/db/read-state.js";
import { direct, group, prefix, query, readMarker, receipt, snapshot, tap, useDeliveryStack } from "./harness.js";

const stack = useDeliveryStack();

const readIds = async (userId: bigint) =>
  (await query("select mensaje_id from destinatarios_mensaje where destinatario_id = $1 and leido_en is not null order by mensaje_id", [String(userId)])).map(
    (r) => BigInt(r.mensaje_id as string),
  );

describe("MarkReadUpTo and BatchGetReadState", () => {
  it("reads a room up to a message: its receipts once each, the marker forward only, the unread count of what is newer", async () => {
    // Room 9001: 601 → 602, five messages; room 9002: 603 → 602, one message.
    for (const id of [3001n, 3002n, 3003n, 3004n, 3005n]) await stack.client.dispatch({ message: direct(id, 601n, 602n, 9001n) });
    await stack.client.dispatch({ message: direct(3006n, 603n, 602n, 9002n) });

    const state = await stack.client.batchGetReadState({ userId: 602n, roomIds: [9001n, 9002n, 123_456n] });
    expect(state.states.map((s) => [s.roomId, s.unread, s.readUpTo])).toEqual([
      [9001n, 5, 0n],
      [9002n, 1, 0n],
      [123_456n, 0, 0n],
    ]);

    const t = await tap([]);
    try {
      const up = await stack.client.markReadUpTo({ messageId: 3003n, userId: 602n });
      expect(up).toMatchObject({ roomId: 9001n, readUpTo: 3003n, newlyRead: [3001n, 3002n, 3003n], unread: 2 });
      expect(await readIds(602n)).toEqual([3001n, 3002n, 3003n]);
      const events = await t.settled();
      expect(events.map((e) => e.subject)).toEqual([...Array(3).fill(`${prefix}.user.601.receipt`), `${prefix}.user.602.readmarker`]);
      expect(events.slice(0, 3).map((e) => [receipt(e.data).kind, receipt(e.data).messageId, receipt(e.data).recipientId])).toEqual([
        [ReceiptKind.READ, 3001n, 602n],
        [ReceiptKind.READ, 3002n, 602n],
        [ReceiptKind.READ, 3003n, 602n],
      ]);
      expect(readMarker(events[3]!.data)).toMatchObject({ userId: 602n, roomId: 9001n, readUpTo: 3003n, unread: 2 });
    } finally {
      t.close();
    }

    // Idempotent, and never backwards: the same call, and an older message, change nothing.
    const t2 = await tap([]);
    try {
      expect(await stack.client.markReadUpTo({ messageId: 3003n, userId: 602n })).toMatchObject({ readUpTo: 3003n, newlyRead: [], unread: 2 });
      expect(await stack.client.markReadUpTo({ messageId: 3002n, userId: 602n })).toMatchObject({ readUpTo: 3003n, newlyRead: [], unread: 2 });
      expect(await t2.settled()).toEqual([]);
    } finally {
      t2.close();
    }

    // A single mark_read of a newer message moves the marker; "up to" an older one then reads
    // what is left below it and keeps the marker where it is.
    await stack.client.markRead({ messageId: 3005n, userId: 602n });
    const t3 = await tap([]);
    try {
      const rest = await stack.client.markReadUpTo({ messageId: 3004n, userId: 602n });
      expect(rest).toMatchObject({ readUpTo: 3005n, newlyRead: [3004n], unread: 0 });
      const events = await t3.settled();
      expect(events.map((e) => e.subject)).toEqual([`${prefix}.user.601.receipt`, `${prefix}.user.602.readmarker`]);
      expect(readMarker(events[1]!.data)).toMatchObject({ roomId: 9001n, readUpTo: 3005n, unread: 0 });
    } finally {
      t3.close();
    }
    const after = await stack.client.batchGetReadState({ userId: 602n, roomIds: [9002n, 9001n] });
    expect(after.states.map((s) => [s.roomId, s.unread, s.readUpTo])).toEqual([
      [9002n, 1, 0n],
      [9001n, 0, 3005n],
    ]);
  });

  it("tells each sender of a group's messages about their own messages only", async () => {
    for (const userId of [611n, 612n, 613n]) await stack.rooms.joinGroup({ groupId: 3201n, userId });
    const roomId = (await stack.rooms.resolveGroupRoom({ groupId: 3201n })).room!.id;
    await stack.client.dispatch({ message: group(3010n, 611n, 3201n, roomId) });
    await stack.client.dispatch({ message: group(3011n, 612n, 3201n, roomId) });
    await stack.client.dispatch({ message: group(3012n, 611n, 3201n, roomId) });
    const t = await tap([]);
    try {
      expect(await stack.client.markReadUpTo({ messageId: 3012n, userId: 613n })).toMatchObject({ roomId, newlyRead: [3010n, 3011n, 3012n], unread: 0 });
      const receipts = (await t.settled()).filter((e) => e.subject.endsWith(".receipt"));
      expect(receipts.map((e) => [e.subject, receipt(e.data).messageId])).toEqual([
        [`${prefix}.user.611.receipt`, 3010n],
        [`${prefix}.user.612.receipt`, 3011n],
        [`${prefix}.user.611.receipt`, 3012n],
      ]);
    } finally {
      t.close();
    }
    // 612 read nothing yet: it still has 611's two messages unread (its own are not counted).
    expect((await stack.client.batchGetReadState({ userId: 612n, roomIds: [roomId] })).states[0]).toMatchObject({ unread: 2, readUpTo: 0n });
  });

  it("refuses non-recipients, unknown messages, other users and bad input without changing anything", async () => {
    await stack.client.dispatch({ message: direct(3101n, 621n, 622n, 9101n) });
    const t = await tap([]);
    try {
      const before = await snapshot();
      // The sender is not a recipient of its own message; a stranger neither.
      expect(await codeOf(stack.client.markReadUpTo({ messageId: 3101n, userId: 621n }))).toBe(Code.PermissionDenied);
      expect(await codeOf(stack.client.markReadUpTo({ messageId: 3101n, userId: 623n }))).toBe(Code.PermissionDenied);
      expect(await codeOf(stack.client.markReadUpTo({ messageId: 999_997n, userId: 622n }))).toBe(Code.NotFound);
      expect(await codeOf(stack.client.markReadUpTo({ messageId: 0n, userId: 622n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(stack.client.markReadUpTo({ messageId: 3101n, userId: 622n }, onBehalfOf(623n)))).toBe(Code.PermissionDenied);
      expect(await codeOf(stack.client.batchGetReadState({ userId: 622n, roomIds: [] }))).toBe(Code.InvalidArgument);
      expect(await codeOf(stack.client.batchGetReadState({ userId: 622n, roomIds: Array.from({ length: 1001 }, (_, i) => BigInt(i + 1)) }))).toBe(Code.InvalidArgument);
      expect(await codeOf(stack.client.batchGetReadState({ userId: 622n, roomIds: [9101n, 0n] }))).toBe(Code.InvalidArgument);
      expect(await codeOf(stack.client.batchGetReadState({ userId: 622n, roomIds: [9101n] }, onBehalfOf(621n)))).toBe(Code.PermissionDenied);
      expect(await snapshot()).toEqual(before);
      expect(await t.settled()).toEqual([]);
    } finally {
      t.close();
    }
  });

  it("counts and marks through the unread index, never scanning the recipients table (EXPLAIN)", async () => {
    // Enough rows for the planner to prefer indexes: 2,000 users × 100 rooms' worth of messages.
    await query(`insert into destinatarios_mensaje (mensaje_id, destinatario_id, sala_chat_id, leido_en)
      select 1000000 + g, 100000 + (g % 2000), 500000 + (g % 100), case when g % 3 = 0 then now() end
      from generate_series(1, 200000) g`);
    await query(`insert into despachos_mensaje (mensaje_id, remitente_id, sala_chat_id) select 1000000 + g, 1, 500000 + (g % 100) from generate_series(1, 200000) g`);
    await query("analyze destinatarios_mensaje");
    await query("analyze despachos_mensaje");
    const counting = await explainPlan(stack.dbUrl, READ_STATE, ["100007", "{500007,500008,500009}"]);
    expect(counting.filter((n) => n.relation === "destinatarios_mensaje").map((n) => n.index)).toEqual(["destinatarios_mensaje_no_leidos_idx"]);
    expect(counting.some((n) => n.type === "Seq Scan" && n.relation === "destinatarios_mensaje")).toBe(false);
    const marking = await explainPlan(stack.dbUrl, MARK_READ_UP_TO, ["1000007", "100007"]);
    expect(marking.some((n) => n.type === "Seq Scan")).toBe(false);
    expect(marking.filter((n) => n.relation === "destinatarios_mensaje").map((n) => n.index)).toContain("destinatarios_mensaje_no_leidos_idx");
  });
});
