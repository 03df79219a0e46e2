import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { onBehalfOf } from "@redup/kit";
import { codeOf } from "@redup/kit/testing";
import { HealthCheckResponse_ServingStatus } from "@redup/proto/grpc/health/v1/health_pb";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { ReceiptKind } from "@redup/proto/redup/events/v1/events_pb";
import { MessageSchema, type Message } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { describe, expect, it } from "vitest";
import { dispatchRows, direct, group, ms, prefix, query, readMarker, receipt, recipientRow, recipientsOf, snapshot, tap, useDeliveryStack } from "./harness.js";

const stack = useDeliveryStack();

describe("Dispatch", () => {
  it("records the peer of a direct message, and publishes nothing (messages publishes the live event)", async () => {
    const t = await tap([`${prefix}.user.202.message`, `${prefix}.user.101.message`]);
    try {
      const message = direct(1001n, 101n, 202n, 7001n);
      const res = await stack.client.dispatch({ message, origin: "edge-1/sock-9" });
      expect(res.recipientIds).toEqual([202n]);

      const [row] = await query("select * from destinatarios_mensaje where mensaje_id = 1001");
      expect(await recipientsOf(1001n)).toEqual(["202"]);
      expect(row).toMatchObject({ mensaje_id: "1001", destinatario_id: "202", entregado_en: null, leido_en: null });
      expect(row.creado_en).toBeInstanceOf(Date);
      expect(await dispatchRows(1001n)).toEqual([
        expect.objectContaining({ mensaje_id: "1001", remitente_id: "101", sala_chat_id: "7001" }),
      ]);

      expect(await t.settled()).toEqual([]);
    } finally {
      t.close();
    }
  });

  it("records every group member but the sender, and publishes nothing", async () => {
    for (const userId of [304n, 301n, 302n, 303n]) await stack.rooms.joinGroup({ groupId: 3001n, userId });
    const { room } = await stack.rooms.joinGroup({ groupId: 3002n, userId: 305n });
    const roomId = (await stack.rooms.resolveGroupRoom({ groupId: 3001n })).room!.id;
    expect(roomId).not.toBe(room!.id);

    const t = await tap([`${prefix}.group.3001.message`]);
    try {
      const message = group(1101n, 301n, 3001n, roomId);
      const res = await stack.client.dispatch({ message });
      expect(res.recipientIds).toEqual([302n, 303n, 304n]);
      expect(await recipientsOf(1101n)).toEqual(["302", "303", "304"]);
      expect(await dispatchRows(1101n)).toEqual([
        expect.objectContaining({ mensaje_id: "1101", remitente_id: "301", sala_chat_id: String(roomId) }),
      ]);

      // A sender who is not a member (a backend notice): every member is a recipient.
      const notice = group(1102n, 999n, 3001n, roomId);
      expect((await stack.client.dispatch({ message: notice })).recipientIds).toEqual([301n, 302n, 303n, 304n]);
      expect(await recipientsOf(1102n)).toEqual(["301", "302", "303", "304"]);

      expect(await t.settled()).toEqual([]);
    } finally {
      t.close();
    }
  });

  it("records the dispatch of a group whose only member is the sender, with no recipients", async () => {
    const { room } = await stack.rooms.joinGroup({ groupId: 3003n, userId: 311n });
    const res = await stack.client.dispatch({ message: group(1103n, 311n, 3003n, room!.id) });
    expect(res.recipientIds).toEqual([]);
    expect(await recipientsOf(1103n)).toEqual([]);
    expect(await dispatchRows(1103n)).toHaveLength(1);
    const receipts = await stack.client.getReceipts({ messageId: 1103n });
    expect(receipts.senderId).toBe(311n);
    expect(receipts.receipts).toEqual([]);
  });

  it("adds nothing when a message is dispatched again (sequentially or concurrently)", async () => {
    const message = direct(1201n, 121n, 122n);
    const t = await tap([`${prefix}.user.122.message`]);
    try {
      expect((await stack.client.dispatch({ message })).recipientIds).toEqual([122n]);
      // The recipient confirms; a later re-dispatch must not reset that.
      const delivered = await stack.client.markDelivered({ messageId: 1201n, userId: 122n });
      expect(delivered.first).toBe(true);
      const before = await snapshot();

      expect((await stack.client.dispatch({ message })).recipientIds).toEqual([122n]);
      // Even a re-dispatch that disagrees (another room id) never rewrites what is stored.
      expect((await stack.client.dispatch({ message: group(1101n, 301n, 3001n, 424_242n) })).recipientIds).toEqual([302n, 303n, 304n]);
      expect(await snapshot()).toEqual(before);
      expect(ms((await recipientRow(1201n, 122n)).entregado_en)).toBe(timestampMs(delivered.receipt!.deliveredAt!));

      // Only the receipt the confirmation sent: no message events.
      expect((await t.settled()).map((e) => e.subject)).toEqual([`${prefix}.user.121.receipt`]);

      const race = direct(1202n, 121n, 123n);
      const results = await Promise.all(Array.from({ length: 10 }, () => stack.client.dispatch({ message: race })));
      expect(results.every((r) => r.recipientIds.length === 1 && r.recipientIds[0] === 123n)).toBe(true);
      expect(await recipientsOf(1202n)).toEqual(["123"]);
      expect(await dispatchRows(1202n)).toHaveLength(1);
    } finally {
      t.close();
    }
  });

  it("refuses invalid messages without writing", async () => {
    const t = await tap([]);
    try {
      const before = await snapshot();
      const ok = direct(1301n, 131n, 132n);
      const bad = (patch: Partial<Message>) => stack.client.dispatch({ message: { ...ok, ...patch } });
      expect(await codeOf(stack.client.dispatch({}))).toBe(Code.InvalidArgument);
      expect(await codeOf(bad({ id: 0n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(bad({ id: -5n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(bad({ senderId: 0n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(bad({ roomId: 0n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(bad({ to: 0n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(bad({ to: -132n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(bad({ roomType: RoomType.UNSPECIFIED }))).toBe(Code.InvalidArgument);
      expect(await snapshot()).toEqual(before);
      expect(await t.settled()).toEqual([]);

      // Only the addressing is read: no content, and the deprecated origin is ignored.
      const addressing = create(MessageSchema, { id: ok.id, roomId: ok.roomId, roomType: ok.roomType, senderId: ok.senderId, to: ok.to });
      const res = await stack.client.dispatch({ message: addressing, origin: "y".repeat(500) });
      expect(res.recipientIds).toEqual([132n]);
      expect(await recipientsOf(1301n)).toEqual(["132"]);
    } finally {
      t.close();
    }
  });
});

describe("DispatchMany", () => {
  it("records a batch as Dispatch would, in request order, with one result each", async () => {
    for (const userId of [143n, 144n, 145n]) await stack.rooms.joinGroup({ groupId: 3101n, userId });
    const roomId = (await stack.rooms.resolveGroupRoom({ groupId: 3101n })).room!.id;
    const t = await tap([]);
    try {
      const messages = [direct(1401n, 141n, 142n), group(1402n, 143n, 3101n, roomId), group(1403n, 144n, 3101n, roomId), direct(1404n, 142n, 141n)];
      const { results } = await stack.client.dispatchMany({ dispatches: messages.map((message, i) => ({ message, origin: `edge-1/s${i}` })) });
      expect(results.map((r) => r.recipientIds)).toEqual([[142n], [144n, 145n], [143n, 145n], [141n]]);
      expect(await recipientsOf(1401n)).toEqual(["142"]);
      expect(await recipientsOf(1402n)).toEqual(["144", "145"]);
      expect(await recipientsOf(1403n)).toEqual(["143", "145"]);
      expect(await recipientsOf(1404n)).toEqual(["141"]);
      expect(await dispatchRows(1403n)).toEqual([expect.objectContaining({ mensaje_id: "1403", remitente_id: "144", sala_chat_id: String(roomId) })]);

      expect(await t.settled()).toEqual([]);

      // Again: nothing new is recorded.
      await stack.client.dispatchMany({ dispatches: messages.map((message) => ({ message })) });
      expect(await recipientsOf(1402n)).toEqual(["144", "145"]);
    } finally {
      t.close();
    }
  });

  it("refuses a batch with an invalid message as a whole, naming it, and writes nothing", async () => {
    const t = await tap([]);
    try {
      const before = await snapshot();
      const err = await stack.client
        .dispatchMany({ dispatches: [{ message: direct(1501n, 151n, 152n) }, { message: { ...direct(1502n, 151n, 152n), to: 0n } }] })
        .catch((e: unknown) => e as ConnectError);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
      expect((err as ConnectError).rawMessage).toContain("dispatches[1].message.to");
      expect(await codeOf(stack.client.dispatchMany({ dispatches: [] }))).toBe(Code.InvalidArgument);
      expect(await snapshot()).toEqual(before);
      expect(await t.settled()).toEqual([]);
    } finally {
      t.close();
    }
  });
});

describe("MarkDelivered", () => {
  it("sets entregado_en once, returns the sender and tells the sender exactly once", async () => {
    await stack.client.dispatch({ message: direct(2001n, 401n, 402n) });
    const t = await tap([`${prefix}.user.401.receipt`]);
    try {
      const first = await stack.client.markDelivered({ messageId: 2001n, userId: 402n });
      expect(first.first).toBe(true);
      expect(first.senderId).toBe(401n);
      expect(first.receipt).toMatchObject({ messageId: 2001n, recipientId: 402n });
      expect(first.receipt!.readAt).toBeUndefined();
      const deliveredAt = timestampMs(first.receipt!.deliveredAt!);
      const row = await recipientRow(2001n, 402n);
      expect(ms(row.entregado_en)).toBe(deliveredAt);
      expect(row.leido_en).toBeNull();
      expect(timestampMs(first.receipt!.createdAt!)).toBe(ms(row.creado_en));

      const event = receipt(await t.next(`${prefix}.user.401.receipt`));
      expect(event).toMatchObject({ kind: ReceiptKind.DELIVERED, messageId: 2001n, senderId: 401n, recipientId: 402n });
      expect(timestampMs(event.at!)).toBe(deliveredAt);

      const second = await stack.client.markDelivered({ messageId: 2001n, userId: 402n });
      expect(second.first).toBe(false);
      expect(second.senderId).toBe(401n);
      expect(timestampMs(second.receipt!.deliveredAt!)).toBe(deliveredAt);
      expect(ms((await recipientRow(2001n, 402n)).entregado_en)).toBe(deliveredAt);

      const events = await t.settled();
      expect(events.map((e) => e.subject)).toEqual([`${prefix}.user.401.receipt`]);
    } finally {
      t.close();
    }
  });

  it("refuses non-recipients, unknown messages and bad ids without changing anything", async () => {
    await stack.client.dispatch({ message: direct(2002n, 411n, 412n) });
    const t = await tap([]);
    try {
      const before = await snapshot();
      expect(await codeOf(stack.client.markDelivered({ messageId: 2002n, userId: 411n }))).toBe(Code.PermissionDenied); // the sender
      expect(await codeOf(stack.client.markDelivered({ messageId: 2002n, userId: 413n }))).toBe(Code.PermissionDenied);
      expect(await codeOf(stack.client.markDelivered({ messageId: 2001n, userId: 412n }))).toBe(Code.PermissionDenied); // another message's
      expect(await codeOf(stack.client.markDelivered({ messageId: 999_999n, userId: 412n }))).toBe(Code.NotFound);
      expect(await codeOf(stack.client.markDelivered({ messageId: 0n, userId: 412n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(stack.client.markDelivered({ messageId: 2002n, userId: 0n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(stack.client.markDelivered({ messageId: -2002n, userId: 412n }))).toBe(Code.InvalidArgument);
      expect(await snapshot()).toEqual(before);
      expect((await recipientRow(2002n, 412n)).entregado_en).toBeNull();
      expect(await t.settled()).toEqual([]);
    } finally {
      t.close();
    }
  });

  it("lets exactly one of concurrent confirmations win", async () => {
    await stack.client.dispatch({ message: direct(2003n, 421n, 422n) });
    const t = await tap([`${prefix}.user.421.receipt`]);
    try {
      const results = await Promise.all(Array.from({ length: 10 }, () => stack.client.markDelivered({ messageId: 2003n, userId: 422n })));
      expect(results.filter((r) => r.first)).toHaveLength(1);
      expect(new Set(results.map((r) => timestampMs(r.receipt!.deliveredAt!))).size).toBe(1);
      const events = await t.settled();
      expect(events).toHaveLength(1);
      expect(receipt(events[0]!.data)).toMatchObject({ kind: ReceiptKind.DELIVERED, messageId: 2003n, recipientId: 422n });
    } finally {
      t.close();
    }
  });
});

describe("MarkRead", () => {
  it("sets leido_en and entregado_en, and sends a READ receipt once", async () => {
    await stack.client.dispatch({ message: direct(2101n, 501n, 502n) });
    const t = await tap([`${prefix}.user.501.receipt`]);
    try {
      const first = await stack.client.markRead({ messageId: 2101n, userId: 502n });
      expect(first.first).toBe(true);
      expect(first.senderId).toBe(501n);
      const readAt = timestampMs(first.receipt!.readAt!);
      expect(timestampMs(first.receipt!.deliveredAt!)).toBe(readAt);
      const row = await recipientRow(2101n, 502n);
      expect(ms(row.leido_en)).toBe(readAt);
      expect(ms(row.entregado_en)).toBe(readAt);

      const event = receipt(await t.next(`${prefix}.user.501.receipt`));
      expect(event).toMatchObject({ kind: ReceiptKind.READ, messageId: 2101n, senderId: 501n, recipientId: 502n });
      expect(timestampMs(event.at!)).toBe(readAt);

      const again = await stack.client.markRead({ messageId: 2101n, userId: 502n });
      expect(again.first).toBe(false);
      expect(timestampMs(again.receipt!.readAt!)).toBe(readAt);
      // Reading implied delivery: a late delivery confirmation is not the first.
      const late = await stack.client.markDelivered({ messageId: 2101n, userId: 502n });
      expect(late.first).toBe(false);
      expect(timestampMs(late.receipt!.deliveredAt!)).toBe(readAt);

      // One READ receipt to the sender, and the reader's devices hear their marker moved.
      const events = await t.settled();
      expect(events.map((e) => e.subject)).toEqual([`${prefix}.user.501.receipt`, `${prefix}.user.502.readmarker`]);
      expect(receipt(events[0]!.data).kind).toBe(ReceiptKind.READ);
      expect(readMarker(events[1]!.data)).toMatchObject({ userId: 502n, roomId: 72_101n, readUpTo: 2101n, unread: 0 });
    } finally {
      t.close();
    }
  });

  it("keeps an earlier entregado_en; receipts arrive DELIVERED then READ", async () => {
    await stack.client.dispatch({ message: direct(2102n, 511n, 512n) });
    const t = await tap([]);
    try {
      const delivered = await stack.client.markDelivered({ messageId: 2102n, userId: 512n });
      const read = await stack.client.markRead({ messageId: 2102n, userId: 512n });
      expect(read.first).toBe(true);
      expect(read.senderId).toBe(511n);
      const deliveredAt = timestampMs(delivered.receipt!.deliveredAt!);
      expect(timestampMs(read.receipt!.deliveredAt!)).toBe(deliveredAt);
      expect(timestampMs(read.receipt!.readAt!)).toBeGreaterThanOrEqual(deliveredAt);
      const row = await recipientRow(2102n, 512n);
      expect(ms(row.entregado_en)).toBe(deliveredAt);
      expect(ms(row.leido_en)).toBe(timestampMs(read.receipt!.readAt!));

      const events = await t.settled();
      expect(events.map((e) => e.subject)).toEqual([`${prefix}.user.511.receipt`, `${prefix}.user.511.receipt`, `${prefix}.user.512.readmarker`]);
      expect(events.slice(0, 2).map((e) => receipt(e.data).kind)).toEqual([ReceiptKind.DELIVERED, ReceiptKind.READ]);
    } finally {
      t.close();
    }
  });

  it("refuses like MarkDelivered, without changing anything", async () => {
    await stack.client.dispatch({ message: direct(2103n, 521n, 522n) });
    const t = await tap([]);
    try {
      const before = await snapshot();
      expect(await codeOf(stack.client.markRead({ messageId: 2103n, userId: 521n }))).toBe(Code.PermissionDenied);
      expect(await codeOf(stack.client.markRead({ messageId: 2103n, userId: 523n }))).toBe(Code.PermissionDenied);
      expect(await codeOf(stack.client.markRead({ messageId: 999_998n, userId: 522n }))).toBe(Code.NotFound);
      expect(await codeOf(stack.client.markRead({ messageId: 0n, userId: 522n }))).toBe(Code.InvalidArgument);
      expect(await codeOf(stack.client.markRead({ messageId: 2103n, userId: -1n }))).toBe(Code.InvalidArgument);
      expect(await snapshot()).toEqual(before);
      expect(await t.settled()).toEqual([]);
    } finally {
      t.close();
    }
  });
});

describe("BatchMark", () => {
  it("applies each mark as MarkDelivered/MarkRead would, in order; a refused mark fails alone", async () => {
    await stack.client.dispatch({ message: direct(2501n, 451n, 452n) });
    await stack.client.dispatch({ message: direct(2502n, 451n, 453n) });
    const t = await tap([]);
    try {
      const { results } = await stack.client.batchMark({
        marks: [
          { kind: { case: "delivered", value: { messageId: 2501n, userId: 452n } } },
          { kind: { case: "delivered", value: { messageId: 2501n, userId: 453n } } },
          { kind: { case: "read", value: { messageId: 2502n, userId: 453n } } },
          { kind: { case: "delivered", value: { messageId: 9_999_999n, userId: 452n } } },
          { kind: { case: "delivered", value: { messageId: 2501n, userId: 452n } } },
        ],
      });
      expect(results.map((r) => r.outcome.case)).toEqual(["delivered", "error", "read", "error", "delivered"]);
      expect(results[0]!.outcome.value).toMatchObject({ senderId: 451n });
      expect(results[1]!.outcome.value).toMatchObject({ code: Code.PermissionDenied });
      expect(results[3]!.outcome.value).toMatchObject({ code: Code.NotFound });
      // Marks of one batch run concurrently: exactly one of the two identical ones was first.
      const firsts = [results[0]!, results[4]!].map((r) => (r.outcome.case === "delivered" ? r.outcome.value.first : undefined));
      expect(firsts.filter(Boolean)).toHaveLength(1);
      expect((await recipientRow(2501n, 452n)).entregado_en).toBeInstanceOf(Date);
      const read = await recipientRow(2502n, 453n);
      expect(read.leido_en).toBeInstanceOf(Date);
      expect(read.entregado_en).toBeInstanceOf(Date);
      const events = await t.settled();
      expect(events.filter((e) => e.subject.endsWith(".receipt")).map((e) => [e.subject, receipt(e.data).kind]).sort()).toEqual([
        [`${prefix}.user.451.receipt`, ReceiptKind.DELIVERED],
        [`${prefix}.user.451.receipt`, ReceiptKind.READ],
      ]);
      expect(events.filter((e) => !e.subject.endsWith(".receipt")).map((e) => e.subject)).toEqual([`${prefix}.user.453.readmarker`]);
      expect(await codeOf(stack.client.batchMark({ marks: [] }))).toBe(Code.InvalidArgument);
    } finally {
      t.close();
    }
  });
});

describe("BatchListPending", () => {
  it("answers each ListPending request in order, as ListPending would", async () => {
    await stack.client.dispatch({ message: direct(2601n, 461n, 462n) });
    await stack.client.dispatch({ message: direct(2602n, 461n, 462n) });
    await stack.client.dispatch({ message: direct(2603n, 461n, 463n) });
    const { responses } = await stack.client.batchListPending({
      requests: [{ userId: 462n }, { userId: 464n }, { userId: 463n }, { userId: 462n, afterMessageId: 2601n }, { userId: 462n, pageSize: 1 }],
    });
    expect(responses.map((r) => r.messages.map((m) => m.messageId))).toEqual([[2601n, 2602n], [], [2603n], [2602n], [2601n]]);
    expect(responses[4]!.nextAfterMessageId).toBe(2601n);
    expect(await codeOf(stack.client.batchListPending({ requests: [] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.batchListPending({ requests: [{ userId: 0n }] }))).toBe(Code.InvalidArgument);
    // With an acting user, only that user's pending messages.
    expect(await codeOf(stack.client.batchListPending({ requests: [{ userId: 462n }, { userId: 463n }] }, onBehalfOf(462n)))).toBe(Code.PermissionDenied);
  });
});

describe("ListPending", () => {
  it("pages through undelivered messages, oldest first", async () => {
    // Dispatched out of id order; "oldest" is the lowest id.
    for (const id of [5005n, 5001n, 5003n, 5002n, 5004n]) await stack.client.dispatch({ message: direct(id, 602n, 601n) });
    for (const userId of [601n, 603n]) await stack.rooms.joinGroup({ groupId: 3601n, userId });
    const { room } = await stack.rooms.resolveGroupRoom({ groupId: 3601n });
    await stack.client.dispatch({ message: group(5006n, 603n, 3601n, room!.id) });
    await stack.client.dispatch({ message: direct(5000n, 602n, 604n) }); // someone else's
    await stack.client.markDelivered({ messageId: 5003n, userId: 601n });
    await stack.client.markRead({ messageId: 5004n, userId: 601n });

    const all = await stack.client.listPending({ userId: 601n });
    expect(all.messages.map((m) => m.messageId)).toEqual([5001n, 5002n, 5005n, 5006n]);
    expect(all.nextAfterMessageId).toBe(0n);
    const row = await recipientRow(5001n, 601n);
    expect(timestampMs(all.messages[0]!.createdAt!)).toBe(ms(row.creado_en));

    const p1 = await stack.client.listPending({ userId: 601n, pageSize: 2 });
    expect(p1.messages.map((m) => m.messageId)).toEqual([5001n, 5002n]);
    expect(p1.nextAfterMessageId).toBe(5002n);
    const p2 = await stack.client.listPending({ userId: 601n, pageSize: 2, afterMessageId: p1.nextAfterMessageId });
    expect(p2.messages.map((m) => m.messageId)).toEqual([5005n, 5006n]);
    expect(p2.nextAfterMessageId).toBe(0n); // exactly full last page

    const p3 = await stack.client.listPending({ userId: 601n, pageSize: 3 });
    expect(p3.messages.map((m) => m.messageId)).toEqual([5001n, 5002n, 5005n]);
    expect(p3.nextAfterMessageId).toBe(5005n);
    const p4 = await stack.client.listPending({ userId: 601n, pageSize: 3, afterMessageId: 5005n });
    expect(p4.messages.map((m) => m.messageId)).toEqual([5006n]);
    expect(p4.nextAfterMessageId).toBe(0n);

    const seen: bigint[] = [];
    let after = 0n;
    let pages = 0;
    do {
      const page = await stack.client.listPending({ userId: 601n, pageSize: 1, afterMessageId: after });
      seen.push(...page.messages.map((m) => m.messageId));
      after = page.nextAfterMessageId;
      pages++;
    } while (after !== 0n && pages < 10);
    expect(seen).toEqual([5001n, 5002n, 5005n, 5006n]);
    expect(pages).toBe(4);

    // Delivering one removes it from the list.
    await stack.client.markDelivered({ messageId: 5002n, userId: 601n });
    expect((await stack.client.listPending({ userId: 601n })).messages.map((m) => m.messageId)).toEqual([5001n, 5005n, 5006n]);
    expect((await stack.client.listPending({ userId: 601n, afterMessageId: 5006n })).messages).toEqual([]);
    expect((await stack.client.listPending({ userId: 604n })).messages.map((m) => m.messageId)).toEqual([5000n]);
    expect((await stack.client.listPending({ userId: 602n })).messages).toEqual([]); // the sender has nothing pending
    expect((await stack.client.listPending({ userId: 603n })).messages).toEqual([]);
    expect((await stack.client.listPending({ userId: 1000n, pageSize: 1000 })).messages).toEqual([]);
  });

  it("refuses bad input", async () => {
    expect(await codeOf(stack.client.listPending({ userId: 0n }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.listPending({ userId: 601n, pageSize: 1001 }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.listPending({ userId: 601n, pageSize: -1 }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.listPending({ userId: 601n, afterMessageId: -5n }))).toBe(Code.InvalidArgument);
  });
});

describe("GetReceipts", () => {
  it("returns every recipient's state in recipient order", async () => {
    for (const userId of [704n, 701n, 703n, 702n]) await stack.rooms.joinGroup({ groupId: 3701n, userId });
    const { room } = await stack.rooms.resolveGroupRoom({ groupId: 3701n });
    await stack.client.dispatch({ message: group(6001n, 701n, 3701n, room!.id) });
    const delivered = await stack.client.markDelivered({ messageId: 6001n, userId: 703n });
    const read = await stack.client.markRead({ messageId: 6001n, userId: 704n });
    // Rows of one message need not be created together (a retried dispatch can add one later):
    // the order is by recipient id, not by creation.
    await query("update destinatarios_mensaje set creado_en = creado_en + interval '1 minute' where mensaje_id = 6001 and destinatario_id = 702");

    const res = await stack.client.getReceipts({ messageId: 6001n });
    expect(res.senderId).toBe(701n);
    expect(res.receipts.map((r) => [r.messageId, r.recipientId])).toEqual([
      [6001n, 702n],
      [6001n, 703n],
      [6001n, 704n],
    ]);
    const [r702, r703, r704] = res.receipts;
    expect(r702!.deliveredAt).toBeUndefined();
    expect(r702!.readAt).toBeUndefined();
    expect(timestampMs(r703!.deliveredAt!)).toBe(timestampMs(delivered.receipt!.deliveredAt!));
    expect(r703!.readAt).toBeUndefined();
    expect(timestampMs(r704!.readAt!)).toBe(timestampMs(read.receipt!.readAt!));
    expect(timestampMs(r704!.deliveredAt!)).toBe(timestampMs(read.receipt!.readAt!));
    const rows = await query("select * from destinatarios_mensaje where mensaje_id = 6001 order by destinatario_id");
    expect(res.receipts.map((r) => timestampMs(r.createdAt!))).toEqual(rows.map((r) => ms(r.creado_en)));
  });

  it("answers NotFound for a message never dispatched and InvalidArgument for a bad id", async () => {
    expect(await codeOf(stack.client.getReceipts({ messageId: 999_997n }))).toBe(Code.NotFound);
    expect(await codeOf(stack.client.getReceipts({ messageId: 0n }))).toBe(Code.InvalidArgument);
  });
});

describe("health", () => {
  it("serves grpc.health.v1 for the server and DeliveryService", async () => {
    expect((await stack.health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await stack.health.check({ service: DeliveryService.typeName })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect(await codeOf(stack.health.check({ service: "nope.Service" }))).toBe(Code.NotFound);
  });
});
