import assert from "node:assert/strict";
import type { CheckContext } from "../context.js";
import type { Reply } from "../grpc.js";
import type { Checks } from "./types.js";

const S = "redup.delivery.v1.DeliveryService";

/** A new direct message a → b, its recipient recorded, so receipts start unmarked. */
const newMessage = ({ fixtures }: CheckContext) => fixtures.newDirect("¿llegó?");

const pendingIds = (page: Reply): string[] => page["messages"].map((m: { messageId: string }) => m.messageId);

export const deliveryChecks: Checks = {
  [`${S}/Dispatch`]: async ({ delivery, fixtures, ids, refusal }) => {
    const message = await fixtures.direct();
    // Dispatch is idempotent: handing a stored message over again names the same recipients.
    assert.deepEqual((await delivery("Dispatch", { message, origin: "contract" })).recipientIds, [ids.b]);
    assert.equal(await refusal(delivery("Dispatch", { message: { ...message, id: "0" } })), "INVALID_ARGUMENT");
  },

  [`${S}/DispatchMany`]: async ({ delivery, messages, fixtures, ids }) => {
    await fixtures.group();
    const direct = await fixtures.direct();
    const group = (await messages("SendMessage", { senderId: ids.a, type: "ROOM_TYPE_GRUPAL", to: ids.group, content: "Hola a todos!" })).message;
    const { results } = await delivery("DispatchMany", { dispatches: [{ message: direct }, { message: group }] });
    assert.equal(results.length, 2, "one result per dispatch, in order");
    assert.deepEqual(results[0].recipientIds, [ids.b]);
    assert.ok(results[1].recipientIds.includes(ids.b), "every group member");
    assert.ok(!results[1].recipientIds.includes(ids.a), "but the sender");
  },

  [`${S}/MarkDelivered`]: async (t) => {
    const message = await newMessage(t);
    const first = await t.delivery("MarkDelivered", { messageId: message.id, userId: t.ids.b });
    assert.deepEqual([first.first, first.senderId, first.receipt.recipientId], [true, t.ids.a, t.ids.b]);
    assert.ok(first.receipt.deliveredAt, "delivered_at is set");
    assert.equal((await t.delivery("MarkDelivered", { messageId: message.id, userId: t.ids.b })).first, false, "the first time wins");
    assert.equal(await t.refusal(t.delivery("MarkDelivered", { messageId: message.id, userId: t.ids.c })), "PERMISSION_DENIED", "only a recipient marks");
  },

  [`${S}/MarkRead`]: async (t) => {
    const message = await newMessage(t);
    const read = await t.delivery("MarkRead", { messageId: message.id, userId: t.ids.b });
    assert.deepEqual([read.first, read.senderId], [true, t.ids.a]);
    assert.ok(read.receipt.readAt, "read_at is set");
    assert.equal(await t.refusal(t.delivery("MarkRead", { messageId: t.ids.unknown, userId: t.ids.b })), "NOT_FOUND");
  },

  [`${S}/BatchMark`]: async (t) => {
    const message = await newMessage(t);
    // Marks of one batch run concurrently: each names a different receipt, so each outcome is certain.
    const other = await newMessage(t);
    const marks = [{ delivered: { messageId: message.id, userId: t.ids.b } }, { read: { messageId: message.id, userId: t.ids.c } }, { read: { messageId: other.id, userId: t.ids.b } }];
    const { results } = await t.delivery("BatchMark", { marks });
    assert.deepEqual(results.map((r: { outcome: string }) => r.outcome), ["delivered", "error", "read"], "one result per mark, in order");
    assert.deepEqual([results[0].delivered.first, results[0].delivered.receipt.messageId], [true, message.id]);
    assert.equal(results[1].error.code, 7, "PERMISSION_DENIED for a user who is not a recipient");
    assert.deepEqual([results[2].read.first, results[2].read.receipt.messageId], [true, other.id]);
  },

  [`${S}/ListPending`]: async (t) => {
    const message = await newMessage(t);
    assert.ok(pendingIds(await t.delivery("ListPending", { userId: t.ids.b, pageSize: 1000 })).includes(message.id), "pending until delivered");
    await t.delivery("MarkDelivered", { messageId: message.id, userId: t.ids.b });
    assert.ok(!pendingIds(await t.delivery("ListPending", { userId: t.ids.b, pageSize: 1000 })).includes(message.id), "not pending once delivered");
  },

  [`${S}/BatchListPending`]: async (t) => {
    const message = await newMessage(t);
    const { responses } = await t.delivery("BatchListPending", { requests: [{ userId: t.ids.b, pageSize: 1000 }, { userId: t.ids.fresh() }] });
    assert.equal(responses.length, 2, "one answer per request, in order");
    assert.ok(pendingIds(responses[0]).includes(message.id));
    assert.deepEqual(pendingIds(responses[1]), []);
  },

  [`${S}/GetReceipts`]: async (t) => {
    const message = await newMessage(t);
    await t.delivery("MarkDelivered", { messageId: message.id, userId: t.ids.b });
    const got = await t.delivery("GetReceipts", { messageId: message.id });
    assert.equal(got.senderId, t.ids.a);
    assert.deepEqual(got.receipts.map((r: { recipientId: string }) => r.recipientId), [t.ids.b]);
    assert.ok(got.receipts[0].deliveredAt, "delivered_at is set");
  },

  [`${S}/MarkReadUpTo`]: async (t) => {
    const older = await newMessage(t);
    const newer = await newMessage(t);
    const read = await t.delivery("MarkReadUpTo", { messageId: newer.id, userId: t.ids.b });
    assert.equal(read.roomId, newer.roomId);
    assert.equal(read.readUpTo, newer.id, "the marker is at the message");
    assert.ok(read.newlyRead.includes(older.id) && read.newlyRead.includes(newer.id), "everything up to it became read");
    assert.equal(read.unread, 0, "nothing newer is left unread");
    assert.deepEqual((await t.delivery("MarkReadUpTo", { messageId: older.id, userId: t.ids.b })).newlyRead, [], "idempotent");
    assert.equal((await t.delivery("MarkReadUpTo", { messageId: older.id, userId: t.ids.b })).readUpTo, newer.id, "the marker never moves back");
    assert.equal(await t.refusal(t.delivery("MarkReadUpTo", { messageId: newer.id, userId: t.ids.c })), "PERMISSION_DENIED", "only a recipient reads");
  },

  [`${S}/BatchGetReadState`]: async (t) => {
    const message = await newMessage(t);
    const { states } = await t.delivery("BatchGetReadState", { userId: t.ids.b, roomIds: [message.roomId, t.ids.unknown] });
    assert.equal(states.length, 2, "one state per room, in order");
    assert.equal(states[0].roomId, message.roomId);
    assert.ok(states[0].unread >= 1, "the new message is unread");
    assert.deepEqual([states[1].unread, states[1].readUpTo], [0, "0"], "a room the user never had");
    assert.equal(await t.refusal(t.delivery("BatchGetReadState", { userId: t.ids.b, roomIds: [] })), "INVALID_ARGUMENT");
  },

  [`${S}/ReportPresence`]: async ({ delivery, ids, refusal }) => {
    const edgeId = `contract-${ids.fresh()}`;
    const user = ids.fresh();
    await delivery("ReportPresence", { edgeId, reports: [{ userId: user, online: true }] });
    assert.equal((await delivery("BatchGetPresence", { userIds: [user] })).presences[0].online, true, "online while an edge holds the user");
    await delivery("ReportPresence", { edgeId, reports: [{ userId: user, online: false }] });
    const gone = (await delivery("BatchGetPresence", { userIds: [user] })).presences[0];
    assert.equal(gone.online, false, "offline once the last edge lets go");
    assert.ok(gone.lastSeen, "with last_seen");
    assert.equal(await refusal(delivery("ReportPresence", { edgeId: "no vale", reports: [{ userId: user, online: true }] })), "INVALID_ARGUMENT");
  },

  [`${S}/EdgeHeartbeat`]: async ({ delivery, ids, refusal }) => {
    const edgeId = `contract-${ids.fresh()}`;
    const user = ids.fresh();
    await delivery("ReportPresence", { edgeId, reports: [{ userId: user, online: true }] });
    assert.equal((await delivery("EdgeHeartbeat", { edgeId })).known, true, "an edge that reported is known");
    assert.equal((await delivery("BatchGetPresence", { userIds: [user] })).presences[0].online, true);
    // A reset (the edge restarted, or is stopping) lets go of everyone it held.
    await delivery("EdgeHeartbeat", { edgeId, reset: true });
    assert.equal((await delivery("BatchGetPresence", { userIds: [user] })).presences[0].online, false);
    assert.equal(await refusal(delivery("EdgeHeartbeat", { edgeId: "" })), "INVALID_ARGUMENT");
  },

  [`${S}/BatchGetPresence`]: async ({ delivery, ids, refusal }) => {
    const never = ids.fresh();
    const { presences } = await delivery("BatchGetPresence", { userIds: [never, ids.a] });
    assert.deepEqual(presences.map((p: { userId: string }) => p.userId), [never, ids.a], "one answer per user, in order");
    assert.deepEqual([presences[0].online, presences[0].lastSeen ?? null], [false, null], "a user never seen");
    assert.equal(await refusal(delivery("BatchGetPresence", { userIds: [] })), "INVALID_ARGUMENT");
  },

  [`${S}/ListReceiptChanges`]: async (t) => {
    const { next: start } = await t.delivery("ListReceiptChanges", { userId: t.ids.a });
    const message = await newMessage(t);
    await t.delivery("MarkDelivered", { messageId: message.id, userId: t.ids.b });
    // As ListChanges: a receipt is handed out once every older transaction on the server ended.
    let mine: Reply[] = [];
    for (let attempt = 0; attempt < 50 && mine.length < 1; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 200));
      const page = await t.delivery("ListReceiptChanges", { userId: t.ids.a, after: start, pageSize: 500 });
      mine = page.receipts.filter((r: { messageId: string }) => r.messageId === message.id);
    }
    assert.deepEqual(
      mine.map((r) => [r["recipientId"], r["read"]]),
      [[t.ids.b, false]],
      "the sender's feed has the delivery receipt",
    );
    assert.equal(await t.refusal(t.delivery("ListReceiptChanges", { userId: t.ids.a, after: "x" })), "INVALID_ARGUMENT");
  },
};
