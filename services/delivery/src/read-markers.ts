import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { assertActingAs, requireBatch, requireId } from "@redup/kit";
import { ReceiptKind } from "@redup/proto/redup/events/v1/events_pb";
import type { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import type { DeliveryDb } from "./db/queries.js";
import * as rs from "./db/read-state.js";
import type { EventPublisher } from "./events.js";

export interface ReadMarkerDeps {
  db: DeliveryDb;
  events: EventPublisher;
  /** Why a user could not mark a message: NotFound or PermissionDenied (service.ts). */
  refuseMark(messageId: bigint, userId: bigint): Promise<never>;
}

type ReadMarkerHandlers = Pick<ServiceImpl<typeof DeliveryService>, "markReadUpTo" | "batchGetReadState">;

/** A user's read markers and unread counts per room: "read up to", and the inbox's badges. */
export function createReadMarkerHandlers({ db, events, refuseMark }: ReadMarkerDeps): ReadMarkerHandlers {
  return {
    async markReadUpTo(req, ctx: HandlerContext) {
      const messageId = requireId(req.messageId, "message_id");
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "mark messages read");
      const done = (await rs.markReadUpTo(db, messageId, userId)) ?? (await refuseMark(messageId, userId));
      // Each sender hears of each message that became read, once (as MarkRead does).
      await Promise.all(done.newlyRead.map((r) => events.receipt(ReceiptKind.READ, r.messageId, r.senderId, userId, r.at)));
      if (done.moved || done.newlyRead.length > 0) await events.readMarker(userId, done.roomId, done.readUpTo, done.unread);
      return { roomId: done.roomId, readUpTo: done.readUpTo, newlyRead: done.newlyRead.map((r) => r.messageId), unread: done.unread };
    },

    async batchGetReadState(req, ctx) {
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "read the unread counts");
      const roomIds = requireBatch(req.roomIds, "room_ids", "rooms").map((id, i) => requireId(id, `room_ids[${i}]`));
      const states = await rs.readState(db, userId, roomIds);
      return { states: roomIds.map((roomId) => ({ roomId, ...(states.get(roomId) ?? { unread: 0, readUpTo: 0n }) })) };
    },
  };
}
