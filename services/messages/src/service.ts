import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  actingUser,
  assertActingAs,
  failedPrecondition,
  invalidArgument,
  needsText,
  notFound,
  optionalId,
  pageSize,
  permissionDenied,
  requireBatch,
  requireId,
  toEntryError,
  type Logger,
} from "@redup/kit";
import {
  MessageChangeKind,
  MessageSchema,
  MessagesService,
  type Message,
  SendMessageResultSchema,
  type SendMessageRequest,
  type SendMessageResult,
} from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { createChangeFeedHandler } from "./change-feed.js";
import { createConversationsHandler, type ConversationSources } from "./conversations.js";
import * as q from "./db/queries.js";
import { toMessage } from "./mappers.js";
import type { MembershipCheck } from "./membership.js";
import type { RoomDirectory } from "./rooms.js";
import { validateContent, validateSend } from "./validate.js";
import type { MessageEvents } from "./events.js";
import type { PreparedSend, SendOutcome } from "./writer.js";

export interface MessagesDeps {
  db: q.MessagesDb;
  isMember: MembershipCheck;
  directory: RoomDirectory;
  /** Stores and dispatches a checked message (batched with concurrent sends). */
  /** Stores a send; `deadline` (performance.now() time) is when its caller stops waiting. */
  write: (send: PreparedSend, deadline?: number) => Promise<SendOutcome>;
  logger: Logger;
  maxMessageLength: number;
  /** The inbox's data owned by rooms and delivery. */
  conversations: ConversationSources;
  /** Live events of edits and deletions. */
  events: MessageEvents;
  /** Resolves once the message's own live event went out from this process (see Dispatcher.published). */
  published: (messageId: bigint) => Promise<void>;
}

/**
 * How long an edit or a deletion waits for its message's live event to be published first.
 * Past it the change goes anyway (the edge still holds it behind the message for a while).
 */
const CHANGE_AFTER_MESSAGE_MS = 5000;

const HISTORY_DEFAULT = 50;
const HISTORY_MAX = 200;

export function createMessagesService(deps: MessagesDeps): ServiceImpl<typeof MessagesService> {
  const { db, directory } = deps;

  /** Publishes a change once the message's own event went out, so subscribers see it second. */
  const announce = async (kind: MessageChangeKind, message: Message, at: Date) => {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, CHANGE_AFTER_MESSAGE_MS)));
    await Promise.race([deps.published(message.id), limit]);
    clearTimeout(timer);
    await deps.events.changed(kind, message, at);
  };

  const load = async (id: bigint) => {
    const [row] = await q.getMessages(db, [id]);
    if (!row) throw notFound(`message ${id} does not exist`);
    return { row, message: create(MessageSchema, toMessage(row, await directory.get(row.mensaje.salaChatId))) };
  };

  /**
   * Checks one send and finds its room: the sender must be the acting user when the call has
   * one, and a member of the group for a group message (sistema excepted: backends post
   * notices to groups).
   */
  const prepare = async (req: SendMessageRequest, ctx: HandlerContext): Promise<PreparedSend> => {
    const input = validateSend(req, deps.maxMessageLength);
    assertActingAs(ctx, input.senderId, "send messages");
    if (input.type === RoomType.GRUPAL && input.tipo !== "sistema") {
      if (!(await deps.isMember(input.to, input.senderId))) throw permissionDenied(`user ${input.senderId} is not a member of group ${input.to}`);
    }
    return { input, room: await directory.resolve(input.type, input.senderId, input.to) };
  };

  /** When the caller of a send stops waiting (max_wait_ms from now), as a performance.now() time. */
  const deadlineOf = (req: SendMessageRequest): number | undefined => (req.maxWaitMs > 0 ? performance.now() + req.maxWaitMs : undefined);

  /** What a sender cannot know before its message is stored (SendMessagesRequest.compact_results). */
  const compact = (m: Message) => create(MessageSchema, { id: m.id, uuid: m.uuid, roomId: m.roomId, roomType: m.roomType, sentAt: m.sentAt, clientMsgId: m.clientMsgId });

  /** A failure of one request of a batch, as its own result. */
  const failed = (err: unknown): SendMessageResult =>
    create(SendMessageResultSchema, { outcome: { case: "error", value: toEntryError(err, deps.logger, "SendMessages") } });

  return {
    ...createConversationsHandler(db, deps.conversations),
    ...createChangeFeedHandler(db, deps.conversations.userRooms),

    async sendMessage(req, ctx) {
      const deadline = deadlineOf(req);
      return deps.write(await prepare(req, ctx), deadline);
    },

    async sendMessages(req, ctx) {
      // Checked concurrently, then written in request order, so ids follow the request.
      const prepared = await Promise.allSettled(requireBatch(req.requests, "requests", "messages").map((one) => prepare(one, ctx)));
      const deadlines = req.requests.map(deadlineOf);
      const written = prepared.map((p, i) => (p.status === "fulfilled" ? deps.write(p.value, deadlines[i]) : Promise.reject(p.reason as Error)));
      const results = await Promise.allSettled(written);
      return {
        results: results.map((r) => {
          if (r.status === "rejected") return failed(r.reason);
          const sent = req.compactResults && !r.value.duplicate ? { ...r.value, message: compact(r.value.message) } : r.value;
          return create(SendMessageResultSchema, { outcome: { case: "sent", value: sent } });
        }),
      };
    },

    async getMessage(req) {
      return { message: (await load(requireId(req.messageId, "message_id"))).message };
    },

    async batchGetMessages(req) {
      const ids = requireBatch(req.messageIds, "message_ids", "ids").map((id, i) => requireId(id, `message_ids[${i}]`));
      const rows = new Map((await q.getMessages(db, [...new Set(ids)])).map((r) => [r.mensaje.id, r]));
      const messages = [];
      for (const id of ids) {
        const row = rows.get(id);
        if (row) messages.push(toMessage(row, await directory.get(row.mensaje.salaChatId)));
      }
      return { messages };
    },

    async listMessages(req, ctx) {
      const roomId = requireId(req.roomId, "room_id");
      const beforeId = optionalId(req.beforeId, "before_id");
      const limit = pageSize(req.pageSize, HISTORY_DEFAULT, HISTORY_MAX);
      const room = await directory.get(roomId);
      const acting = actingUser(ctx);
      if (acting !== undefined) {
        // A user reads only rooms they belong to.
        const belongs =
          room.type === RoomType.GRUPAL
            ? await deps.isMember(room.groupId, acting)
            : room.userAId === acting || room.userBId === acting;
        if (!belongs) throw permissionDenied(`user ${acting} does not belong to room ${roomId}`);
      }
      const rows = await q.listRoom(db, roomId, beforeId, limit);
      const page = rows.slice(0, limit);
      return {
        messages: page.map((row) => toMessage(row, room)),
        nextBeforeId: rows.length > limit ? page[page.length - 1]!.mensaje.id : 0n,
      };
    },

    async editMessage(req, ctx) {
      const id = requireId(req.messageId, "message_id");
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "edit messages");
      const { row } = await load(id);
      const content = validateContent(req.content, deps.maxMessageLength, row.mensaje.tipoMensaje);
      if (row.mensaje.remitenteId !== userId) throw permissionDenied("only the sender may edit a message");
      if (row.mensaje.eliminadoEn !== null) throw failedPrecondition("a deleted message cannot be edited");
      if (needsText(row.mensaje.tipoMensaje) && content.trim() === "") throw invalidArgument(`a ${row.mensaje.tipoMensaje} message needs a non-empty message`);
      // The update re-checks sender and deletion, so a concurrent delete is not overwritten.
      const at = await q.updateContent(db, id, userId, content);
      if (!at) throw failedPrecondition("a deleted message cannot be edited");
      const { message } = await load(id);
      await announce(MessageChangeKind.EDITED, message, at);
      return { message };
    },

    async deleteMessage(req, ctx) {
      const id = requireId(req.messageId, "message_id");
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "delete messages");
      const { row } = await load(id);
      if (row.mensaje.remitenteId !== userId) throw permissionDenied("only the sender may delete a message");
      const deletedNow = await q.markDeleted(db, id, userId);
      const { message } = await load(id);
      // Announced once, by the call that deleted it.
      if (deletedNow) await announce(MessageChangeKind.DELETED, message, timestampDate(message.deletedAt!));
      return { message };
    },
  };
}
