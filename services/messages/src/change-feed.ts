import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { assertActingAs, decodeFeedPosition, encodeFeedPosition, feedBefore, pageSize, requireId, startPeriodic, toTimestamp, type Logger, type Periodic } from "@redup/kit";
import { MessageChangeKind, type MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomSchema, RoomType, type UserRoom } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { roomChanges, type ChangeType } from "./db/change-feed.js";
import { getMessages, type MessagesDb } from "./db/queries.js";
import { toMessage } from "./mappers.js";

const PAGE_DEFAULT = 100;
const PAGE_MAX = 500;

const KINDS: Record<ChangeType, MessageChangeKind> = {
  mensaje: MessageChangeKind.CREATED,
  edicion: MessageChangeKind.EDITED,
  eliminacion: MessageChangeKind.DELETED,
};

/**
 * ListChanges: a user's feed of new, edited and deleted messages in their rooms, after a
 * position the caller kept. The rooms come from rooms (ListUserRooms); the changes and the
 * messages as they are now, from this service's tables.
 */
export function createChangeFeedHandler(db: MessagesDb, userRooms: (userId: bigint) => Promise<UserRoom[]>): Pick<ServiceImpl<typeof MessagesService>, "listChanges"> {
  return {
    async listChanges(req, ctx) {
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "read the change feed");
      const limit = pageSize(req.pageSize, PAGE_DEFAULT, PAGE_MAX);
      if (req.after === "") return { changes: [], next: encodeFeedPosition(await roomChanges.head(db)), hasMore: false, tooFarBehind: false };
      const after = decodeFeedPosition(req.after, "after");

      const rooms = await userRooms(userId);
      const page = await roomChanges.read(
        db,
        rooms.map((r) => r.roomId),
        after,
        limit + 1,
      );
      // Changes were pruned after this position: what the caller missed cannot be replayed.
      if (page.pruned && feedBefore(after, page.pruned)) return { changes: [], next: encodeFeedPosition(page.horizon), hasMore: false, tooFarBehind: true };

      const rows = page.rows.slice(0, limit);
      const hasMore = page.rows.length > limit;
      const byRoom = new Map(rooms.map((r) => [r.roomId, r]));
      const messages = new Map((await getMessages(db, [...new Set(rows.map((r) => r.messageId))])).map((m) => [m.mensaje.id, m]));
      const changes = rows.flatMap((row) => {
        const stored = messages.get(row.messageId);
        const room = byRoom.get(row.roomId);
        if (!stored || !room) return [];
        // The user's view of the room: enough for each message's addressing.
        const view =
          room.type === RoomType.GRUPAL
            ? create(RoomSchema, { id: room.roomId, type: room.type, groupId: room.peerOrGroupId })
            : create(RoomSchema, { id: room.roomId, type: room.type, userAId: userId, userBId: room.peerOrGroupId });
        return [{ kind: KINDS[row.type], message: toMessage(stored, view), at: toTimestamp(row.at) }];
      });
      // A full page goes on from its last change; the last page from the horizon (nothing
      // committed before it is left to read).
      const next = hasMore ? rows[rows.length - 1]!.position : page.horizon;
      return { changes, next: encodeFeedPosition(next), hasMore, tooFarBehind: false };
    },
  };
}

/** Prunes changes older than the retention, every minute (or a quarter of a short retention). */
export function startFeedPruner(db: MessagesDb, retentionSeconds: number, logger: Logger): Periodic {
  return startPeriodic(
    "[FEED] pruning old changes",
    Math.min(60_000, Math.max(250, (retentionSeconds * 1000) / 4)),
    async () => {
      for (let round = 0; round < 10 && (await roomChanges.prune(db, retentionSeconds)) > 0; round++);
    },
    logger,
  );
}
