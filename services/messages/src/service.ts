import { create } from "@bufbuild/protobuf";
import type { Client, ServiceImpl } from "@connectrpc/connect";
import { actingUser, assertActingAs, failedPrecondition, invalidArgument, notFound, optionalId, pageSize, permissionDenied, requireId } from "@redup/kit";
import { MessageSchema, MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType, type Room, type RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import * as q from "./db/queries.js";
import type { Dispatcher } from "./dispatcher.js";
import { toMessage } from "./mappers.js";
import type { Serialize } from "./ordering.js";
import type { RoomDirectory } from "./rooms.js";
import { validateContent, validateSend, type SendInput } from "./validate.js";

export interface MessagesDeps {
  db: q.MessagesDb;
  rooms: Client<typeof RoomsService>;
  directory: RoomDirectory;
  dispatcher: Dispatcher;
  /** The per-room turn shared with the dispatcher's outbox. */
  serialize: Serialize;
  maxMessageLength: number;
}

const HISTORY_DEFAULT = 50;
const HISTORY_MAX = 200;
const BATCH_MAX = 1000;
/** The sender dispatches inline; the outbox worker waits this long before taking over. */
const INLINE_LEASE_MS = 10_000;

export function createMessagesService(deps: MessagesDeps): ServiceImpl<typeof MessagesService> {
  const { db, directory, dispatcher } = deps;
  const { serialize } = deps;

  const load = async (id: bigint) => {
    const [row] = await q.getMessages(db, [id]);
    if (!row) throw notFound(`message ${id} does not exist`);
    return { row, message: create(MessageSchema, toMessage(row, await directory.get(row.mensaje.salaChatId))) };
  };

  /** Stores the message (or finds the original of a retried key) and hands it to delivery. */
  const storeAndDispatch = async (input: SendInput, room: Room) => {
    const result = await q.insertMessage(db, {
      values: {
        salaChatId: room.id,
        remitenteId: input.senderId,
        tipoMensaje: input.tipo,
        contenido: input.content,
        urlArchivo: input.urlArchivo,
        metadatos: input.metadata,
      },
      clientMsgId: input.clientMsgId,
      clientTimestamp: input.clientTimestamp,
      origin: input.origin,
      inlineLeaseMs: INLINE_LEASE_MS,
    });
    if ("duplicate" in result) {
      return { message: toMessage(result.duplicate, room), duplicate: true, dispatched: false };
    }
    const message = create(MessageSchema, toMessage(result.stored, room));
    const dispatched = await dispatcher.dispatchInOrder(message, input.origin);
    return { message, duplicate: false, dispatched };
  };

  return {
    async sendMessage(req, ctx) {
      const input = validateSend(req, deps.maxMessageLength);
      assertActingAs(ctx, input.senderId, "send messages");

      if (input.type === RoomType.GRUPAL && input.tipo !== "sistema") {
        const { isMember } = await deps.rooms.checkMembership({ groupId: input.to, userId: input.senderId });
        if (!isMember) throw permissionDenied(`user ${input.senderId} is not a member of group ${input.to}`);
      }

      const room = await directory.resolve(input.type, input.senderId, input.to);
      return serialize(String(room.id), () => storeAndDispatch(input, room));
    },

    async getMessage(req) {
      return { message: (await load(requireId(req.messageId, "message_id"))).message };
    },

    async batchGetMessages(req) {
      if (req.messageIds.length === 0 || req.messageIds.length > BATCH_MAX)
        throw invalidArgument(`message_ids must hold 1 to ${BATCH_MAX} ids`);
      const ids = req.messageIds.map((id, i) => requireId(id, `message_ids[${i}]`));
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
            ? (await deps.rooms.checkMembership({ groupId: room.groupId, userId: acting })).isMember
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
      const content = validateContent(req.content, deps.maxMessageLength);
      const { row } = await load(id);
      if (row.mensaje.remitenteId !== userId) throw permissionDenied("only the sender may edit a message");
      if (row.mensaje.eliminadoEn !== null) throw failedPrecondition("a deleted message cannot be edited");
      const needsText = row.mensaje.tipoMensaje === "texto" || row.mensaje.tipoMensaje === "sistema";
      if (needsText && content.trim() === "") throw invalidArgument(`a ${row.mensaje.tipoMensaje} message needs a non-empty message`);
      // The update re-checks sender and deletion, so a concurrent delete is not overwritten.
      if (!(await q.updateContent(db, id, userId, content))) throw failedPrecondition("a deleted message cannot be edited");
      return { message: (await load(id)).message };
    },

    async deleteMessage(req, ctx) {
      const id = requireId(req.messageId, "message_id");
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "delete messages");
      const { row } = await load(id);
      if (row.mensaje.remitenteId !== userId) throw permissionDenied("only the sender may delete a message");
      await q.markDeleted(db, id, userId);
      return { message: (await load(id)).message };
    },
  };
}

