import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { assertActingAs, invalidArgument, pageSize, requireId } from "@redup/kit";
import type { RoomReadState } from "@redup/proto/redup/delivery/v1/delivery_pb";
import type { MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomSchema, RoomType, type UserRoom } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { conversationPage, type ConversationCursor } from "./db/conversations.js";
import { getMessages, type MessagesDb } from "./db/queries.js";
import { toMessage } from "./mappers.js";

const PAGE_DEFAULT = 20;
const PAGE_MAX = 100;

/** What the inbox needs from the services that own the rest of its data. */
export interface ConversationSources {
  /** Every room of a user (rooms.ListUserRooms). */
  userRooms(userId: bigint): Promise<UserRoom[]>;
  /** The user's unread count and read marker in each room (delivery.BatchGetReadState). */
  readState(userId: bigint, roomIds: bigint[]): Promise<RoomReadState[]>;
}

/** Page tokens are `<activity in µs>:<room id>`: opaque to callers, exact for the keyset. */
const encodeCursor = (c: ConversationCursor) => `${c.activityMicros}:${c.roomId}`;

function decodeCursor(token: string): ConversationCursor | undefined {
  if (token === "") return undefined;
  const match = /^([0-9]{1,20}):([1-9][0-9]{0,18})$/.exec(token);
  if (!match) throw invalidArgument("page_token is not valid");
  return { activityMicros: BigInt(match[1]!), roomId: requireId(BigInt(match[2]!), "page_token") };
}

const timestampOfMicros = (micros: bigint): Timestamp => {
  const date = timestampFromDate(new Date(Number(micros / 1000n)));
  date.nanos = Number(micros % 1_000_000n) * 1000;
  return date;
};

/**
 * GetConversations: the user's rooms (from rooms), ordered and paged by their last activity
 * here (messages owns that), each with its newest message, and the user's unread count and
 * read marker (from delivery, which owns them).
 */
export function createConversationsHandler(db: MessagesDb, sources: ConversationSources): Pick<ServiceImpl<typeof MessagesService>, "getConversations"> {
  return {
    async getConversations(req, ctx) {
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "list the conversations");
      const limit = pageSize(req.pageSize, PAGE_DEFAULT, PAGE_MAX);
      const after = decodeCursor(req.pageToken);
      const rooms = await sources.userRooms(userId);
      if (rooms.length === 0) return { conversations: [], nextPageToken: "" };

      const byId = new Map(rooms.map((r) => [r.roomId, r]));
      const rows = await conversationPage(
        db,
        rooms.map((r) => ({ roomId: r.roomId, createdAt: r.createdAt ? new Date(Number(r.createdAt.seconds) * 1000 + r.createdAt.nanos / 1e6) : new Date(0) })),
        after,
        limit + 1,
      );
      const page = rows.slice(0, limit);
      if (page.length === 0) return { conversations: [], nextPageToken: "" };
      const lastIds = page.flatMap((r) => (r.lastMessageId === undefined ? [] : [r.lastMessageId]));
      const [messages, states] = await Promise.all([
        getMessages(db, lastIds),
        sources.readState(
          userId,
          page.map((r) => r.roomId),
        ),
      ]);
      const lastOf = new Map(messages.map((m) => [m.mensaje.salaChatId, m]));
      const stateOf = new Map(states.map((s) => [s.roomId, s]));
      return {
        conversations: page.map((row) => {
          const room = byId.get(row.roomId)!;
          // The user's view of the room, enough for the message's addressing.
          const view =
            room.type === RoomType.GRUPAL
              ? create(RoomSchema, { id: room.roomId, type: room.type, groupId: room.peerOrGroupId })
              : create(RoomSchema, { id: room.roomId, type: room.type, userAId: userId, userBId: room.peerOrGroupId });
          const last = lastOf.get(row.roomId);
          const state = stateOf.get(row.roomId);
          return {
            roomId: row.roomId,
            type: room.type,
            peerOrGroupId: room.peerOrGroupId,
            lastMessage: last ? toMessage(last, view) : undefined,
            lastActivity: timestampOfMicros(row.cursor.activityMicros),
            unread: state?.unread ?? 0,
            readUpTo: state?.readUpTo ?? 0n,
          };
        }),
        nextPageToken: rows.length > limit ? encodeCursor(page[page.length - 1]!.cursor) : "",
      };
    },
  };
}
