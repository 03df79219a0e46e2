import { onBehalfOf } from "@redup/kit";
import type { EdgeContext } from "../context.js";
import type { ReadReply, ReceiptReply } from "../events.js";
import type { Member } from "../fanout.js";
import { ProtocolError } from "../protocol/errors.js";
import { asObject, optionalId, parseId } from "../protocol/parse.js";
import type { EventHandler, EventTable } from "./dispatch.js";

/** The message id, and the guide's optional `user_id`, which must be the connection's user. */
function parseReceipt(member: Member, payload: unknown): bigint {
  const p = asObject(payload);
  const messageId = parseId(p["mensaje_id"], "mensaje_id");
  let claimed: bigint | undefined;
  try {
    claimed = optionalId(p["user_id"], "user_id");
  } catch {
    claimed = -1n;
  }
  if (claimed !== undefined && String(claimed) !== member.userId)
    throw new ProtocolError("USER_MISMATCH", "solo puedes marcar tus propios mensajes: user_id no coincide con la conexión");
  return messageId;
}

/** mark_read's `up_to`: absent or false, that message alone; true, the room up to it. */
function parseUpTo(payload: unknown): boolean {
  const upTo = asObject(payload)["up_to"];
  if (upTo === undefined || upTo === null) return false;
  if (typeof upTo !== "boolean") throw new ProtocolError("INVALID_PAYLOAD", "up_to debe ser true o false");
  return upTo;
}

export function receiptHandlers(ctx: EdgeContext): EventTable {
  /** One message's receipt, gathered with other sockets' confirmations into BatchMark calls. */
  const one = async (member: Member, messageId: bigint, kind: "delivered" | "read", tag: string): Promise<ReceiptReply> => {
    await ctx.marks({ kind: { case: kind, value: { messageId, userId: BigInt(member.userId) } } });
    ctx.logger.info({ userId: member.userId, mensajeId: String(messageId) }, `[${tag}] mensaje_id=${messageId} | user_id=${member.userId}`);
    return { status: "ok", mensaje_id: String(messageId), user_id: member.userId };
  };

  /** Everything the user received in the message's room up to it: answered with the room's state. */
  const upTo = async (member: Member, messageId: bigint): Promise<ReadReply> => {
    const userId = BigInt(member.userId);
    const done = await ctx.delivery.markReadUpTo({ messageId, userId }, onBehalfOf(userId));
    ctx.logger.info({ userId: member.userId, mensajeId: String(messageId), read: done.newlyRead.length }, `[MARK_READ] up_to mensaje_id=${messageId} | user_id=${member.userId}`);
    return {
      status: "ok",
      mensaje_id: String(messageId),
      user_id: member.userId,
      sala_chat_id: String(done.roomId),
      read_up_to: String(done.readUpTo),
      unread: done.unread,
    };
  };

  const markDelivered: EventHandler = {
    reply: "delivered",
    concurrent: true,
    handle: (member, payload) => one(member, parseReceipt(member, payload), "delivered", "MARK_DELIVERED"),
  };
  const markRead: EventHandler = {
    reply: "read",
    concurrent: true,
    handle(member, payload) {
      const messageId = parseReceipt(member, payload);
      return parseUpTo(payload) ? upTo(member, messageId) : one(member, messageId, "read", "MARK_READ");
    },
  };
  return { mark_delivered: markDelivered, mark_read: markRead };
}
