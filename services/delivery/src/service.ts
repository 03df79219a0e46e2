import type { Client, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { actingUser, assertActingAs, requireBatch, invalidArgument, toEntryError, optionalId, type Logger, notFound, pageSize, permissionDenied, requireId, toTimestamp } from "@redup/kit";
import { DeliveryService, MarkResultSchema, type ListPendingRequest, type MarkResult } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { create } from "@bufbuild/protobuf";
import { ReceiptKind } from "@redup/proto/redup/events/v1/events_pb";
import type { Message } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType, type RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import * as q from "./db/queries.js";
import { advanceMarker } from "./db/read-state.js";
import type { Destinatario } from "./db/schema.js";
import type { EventPublisher } from "./events.js";
import { toReceipt } from "./mappers.js";
import { createPresenceHandlers } from "./presence.js";
import { createReadMarkerHandlers } from "./read-markers.js";
import { createReceiptFeedHandler } from "./receipt-feed.js";

export interface DeliveryDeps {
  db: q.DeliveryDb;
  logger: Logger;
  rooms: Client<typeof RoomsService>;
  events: EventPublisher;
}

/** What differs between the two receipts: the column set, the event kind, the refusal text. */
interface ReceiptMark {
  set: (db: q.DeliveryDb, messageId: bigint, userId: bigint) => Promise<Destinatario | undefined>;
  kind: ReceiptKind;
  at: (row: Destinatario) => Date;
  what: string;
}

const RECEIPTS = {
  delivered: { set: q.setDelivered, kind: ReceiptKind.DELIVERED, at: (row) => row.entregadoEn!, what: "mark messages delivered" },
  read: { set: q.setRead, kind: ReceiptKind.READ, at: (row) => row.leidoEn!, what: "mark messages read" },
} satisfies Record<string, ReceiptMark>;

const PENDING_DEFAULT = 100;
const PENDING_MAX = 1000;

interface DispatchItem {
  message: Message;
  row: { mensajeId: bigint; remitenteId: bigint; salaChatId: bigint };
}

/** Checks one dispatch request (only the message's addressing is read); `at` prefixes field names inside a batch. */
function validateDispatch(req: { message?: Message }, at = ""): DispatchItem {
  const message = req.message;
  if (!message) throw invalidArgument(`${at}message is required`);
  const mensajeId = requireId(message.id, `${at}message.id`);
  const remitenteId = requireId(message.senderId, `${at}message.sender_id`);
  const salaChatId = requireId(message.roomId, `${at}message.room_id`);
  requireId(message.to, `${at}message.to`);
  if (message.roomType !== RoomType.DIRECTO && message.roomType !== RoomType.GRUPAL)
    throw invalidArgument(`${at}message.room_type must be ROOM_TYPE_DIRECTO or ROOM_TYPE_GRUPAL`);
  return { message, row: { mensajeId, remitenteId, salaChatId } };
}

export function createDeliveryService({ db, rooms, events, logger }: DeliveryDeps): ServiceImpl<typeof DeliveryService> {
  /**
   * The recipients of each message: the peer of a direct message, every member of a group but
   * the sender. The groups of a whole batch are read from rooms with one call.
   */
  const recipientsOf = async (items: DispatchItem[]) => {
    const groupIds = [...new Set(items.filter((i) => i.message.roomType === RoomType.GRUPAL).map((i) => i.message.to))];
    const members = new Map<bigint, bigint[]>();
    if (groupIds.length > 0) {
      for (const group of (await rooms.batchListGroupMemberIds({ groupIds })).groups) members.set(group.groupId, group.userIds);
    }
    return items.map(({ message }) =>
      message.roomType === RoomType.DIRECTO ? [message.to] : (members.get(message.to) ?? []).filter((id) => id !== message.senderId),
    );
  };

  /** The recipients the database took, logging the ones it refused. */
  const kept = (item: DispatchItem, recipientIds: bigint[], skipped: bigint[]) => {
    if (skipped.length === 0) return recipientIds;
    logger.warn({ mensajeId: String(item.row.mensajeId), skipped: skipped.map(String) }, "[DB-ERROR] recipients refused by the database (unknown users)");
    return recipientIds.filter((id) => !skipped.includes(id));
  };

  /** One page of a user's pending messages (ListPending, and each request of BatchListPending). */
  const listPending = async (req: ListPendingRequest, ctx: HandlerContext) => {
    const userId = requireId(req.userId, "user_id");
    assertActingAs(ctx, userId, "list pending messages");
    const afterId = optionalId(req.afterMessageId, "after_message_id");
    const limit = pageSize(req.pageSize, PENDING_DEFAULT, PENDING_MAX);
    const rows = await q.listPending(db, userId, afterId, limit);
    const page = rows.slice(0, limit);
    return {
      messages: page.map((r) => ({ messageId: r.mensajeId, createdAt: toTimestamp(r.creadoEn) })),
      nextAfterMessageId: rows.length > limit ? page[page.length - 1]!.mensajeId : 0n,
    };
  };

  /** Why a user has no recipient row: the message is unknown, or the user is not its recipient. */
  const refuseMark = async (messageId: bigint, userId: bigint): Promise<never> => {
    const dispatch = await q.getDispatch(db, messageId);
    if (!dispatch && (await q.listReceipts(db, messageId)).length === 0)
      throw notFound(`message ${messageId} has no delivery record`);
    throw permissionDenied(`user ${userId} is not a recipient of message ${messageId}`);
  };

  /**
   * Sets a receipt for the calling recipient (first call wins), tells the sender on the first,
   * and answers with the receipt; a user who is not a recipient is refused.
   */
  const mark = async (receipt: ReceiptMark, req: { messageId: bigint; userId: bigint }, ctx: HandlerContext) => {
    const messageId = requireId(req.messageId, "message_id");
    const userId = requireId(req.userId, "user_id");
    assertActingAs(ctx, userId, receipt.what);
    const updated = await receipt.set(db, messageId, userId);
    const row = updated ?? (await q.getRecipient(db, messageId, userId)) ?? (await refuseMark(messageId, userId));
    const senderId = (await q.getDispatch(db, messageId))?.remitenteId ?? 0n;
    if (updated) await events.receipt(receipt.kind, messageId, senderId, userId, receipt.at(updated));
    if (updated && receipt.kind === ReceiptKind.READ) {
      // A message read on its own moves the room's marker too (never back), for the inbox.
      const marker = await advanceMarker(db, userId, messageId);
      if (marker) await events.readMarker(userId, marker.roomId, marker.readUpTo, marker.unread);
    }
    return { receipt: toReceipt(row), first: updated !== undefined, senderId };
  };

  return {
    ...createReadMarkerHandlers({ db, events, refuseMark }),
    ...createPresenceHandlers({ db, events }),
    ...createReceiptFeedHandler(db),

    async dispatch(req) {
      const item = validateDispatch(req);
      const [recipientIds = []] = await recipientsOf([item]);
      const [recorded] = await q.recordDispatches(db, [{ dispatch: item.row, recipientIds }]);
      return { recipientIds: kept(item, recipientIds, recorded!.skipped) };
    },

    async dispatchMany(req) {
      const items = requireBatch(req.dispatches, "dispatches", "messages").map((d, i) => validateDispatch(d, `dispatches[${i}].`));
      const recipients = await recipientsOf(items);
      const recorded = await q.recordDispatches(db, items.map((item, i) => ({ dispatch: item.row, recipientIds: recipients[i]! })));
      return { results: items.map((item, i) => ({ recipientIds: kept(item, recipients[i]!, recorded[i]!.skipped) })) };
    },

    markDelivered: (req, ctx) => mark(RECEIPTS.delivered, req, ctx),

    markRead: (req, ctx) => mark(RECEIPTS.read, req, ctx),

    async batchMark(req, ctx) {
      const results = await Promise.all(
        requireBatch(req.marks, "marks", "marks").map(async ({ kind }): Promise<MarkResult> => {
          try {
            if (kind.case === "delivered") return create(MarkResultSchema, { outcome: { case: "delivered", value: await mark(RECEIPTS.delivered, kind.value, ctx) } });
            if (kind.case === "read") return create(MarkResultSchema, { outcome: { case: "read", value: await mark(RECEIPTS.read, kind.value, ctx) } });
            throw invalidArgument("a mark must be delivered or read");
          } catch (err) {
            return create(MarkResultSchema, { outcome: { case: "error", value: toEntryError(err, logger, "BatchMark") } });
          }
        }),
      );
      return { results };
    },

    listPending,

    async batchListPending(req, ctx) {
      return { responses: await Promise.all(requireBatch(req.requests, "requests", "requests").map((one) => listPending(one, ctx))) };
    },

    async getReceipts(req, ctx) {
      const messageId = requireId(req.messageId, "message_id");
      const [dispatch, receipts] = await Promise.all([q.getDispatch(db, messageId), q.listReceipts(db, messageId)]);
      if (!dispatch && receipts.length === 0) throw notFound(`message ${messageId} has no delivery record`);
      const acting = actingUser(ctx);
      if (acting !== undefined && acting !== dispatch?.remitenteId) throw permissionDenied("only the sender may read a message's receipts");
      return { senderId: dispatch?.remitenteId ?? 0n, receipts: receipts.map(toReceipt) };
    },
  };
}
