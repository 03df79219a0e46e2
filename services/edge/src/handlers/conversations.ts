import { Code, ConnectError } from "@connectrpc/connect";
import { onBehalfOf } from "@redup/kit";
import type { Conversation as ConversationRecord } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import type { EdgeContext } from "../context.js";
import type { Conversation, ConversationsReply } from "../events.js";
import { ProtocolError } from "../protocol/errors.js";
import { isoUtc, toLastMessage } from "../protocol/format.js";
import { asObject } from "../protocol/parse.js";
import type { EventTable } from "./dispatch.js";

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;
/** The cursor messages hands out: activity in microseconds and a room id. */
const CURSOR = /^[0-9]{1,20}:[1-9][0-9]{0,18}$/;

function toConversation(c: ConversationRecord): Conversation {
  const last = c.lastMessage;
  return {
    sala_chat_id: String(c.roomId),
    type: c.type === RoomType.GRUPAL ? "grupal" : "directo",
    to: String(c.peerOrGroupId),
    last_message: last ? toLastMessage(last) : null,
    last_activity: isoUtc(c.lastActivity),
    unread: c.unread,
    read_up_to: c.readUpTo === 0n ? null : String(c.readUpTo),
  };
}

export function conversationHandlers(ctx: EdgeContext): EventTable {
  return {
    get_conversations: {
      reply: "conversations",
      async handle(member, payload) {
        const p = asObject(payload);
        const limit = p["limit"] === undefined || p["limit"] === null ? DEFAULT_LIMIT : p["limit"];
        if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
          throw new ProtocolError("INVALID_PAYLOAD", `limit debe ser un entero entre 1 y ${MAX_LIMIT}`);
        const before = p["before"] ?? "";
        if (typeof before !== "string" || (before !== "" && !CURSOR.test(before)))
          throw new ProtocolError("INVALID_PAYLOAD", "before debe ser el next_before de la página anterior");
        const userId = BigInt(member.userId);
        const page = await ctx.messages.getConversations({ userId, pageSize: limit, pageToken: before }, onBehalfOf(userId)).catch((err: unknown) => {
          // The one precondition: a user in more rooms than an inbox lists (rooms' bound).
          if (err instanceof ConnectError && err.code === Code.FailedPrecondition) throw new ProtocolError("INVALID_PAYLOAD", "el usuario tiene demasiadas conversaciones para listarlas");
          throw err;
        });
        const reply: ConversationsReply = {
          status: "ok",
          conversations: page.conversations.map(toConversation),
          next_before: page.nextPageToken === "" ? null : page.nextPageToken,
        };
        return reply;
      },
    },
  };
}
