import { onBehalfOf } from "@redup/kit";
import type { EdgeContext, EdgeSocket } from "../context.js";
import type { ReceiptReply } from "../events.js";
import type { Member } from "../fanout.js";
import { ProtocolError } from "../protocol/errors.js";
import { asObject, optionalId, parseId } from "../protocol/parse.js";
import { onEvent } from "./dispatch.js";

export function registerReceiptHandlers(ctx: EdgeContext, socket: EdgeSocket, member: Member): void {
  const userId = BigInt(member.userId);

  /** The message id, and the guide's optional `user_id`, which must be the connection's user. */
  const parseReceipt = (payload: unknown) => {
    const p = asObject(payload);
    const messageId = parseId(p["mensaje_id"], "mensaje_id");
    let claimed: bigint | undefined;
    try {
      claimed = optionalId(p["user_id"], "user_id");
    } catch {
      claimed = -1n;
    }
    if (claimed !== undefined && claimed !== userId)
      throw new ProtocolError("USER_MISMATCH", "solo puedes marcar tus propios mensajes: user_id no coincide con la conexión");
    return messageId;
  };

  onEvent(ctx, socket, member, "mark_delivered", "delivered", async (payload) => {
    const messageId = parseReceipt(payload);
    await ctx.delivery.markDelivered({ messageId, userId }, onBehalfOf(userId));
    ctx.logger.info({ userId: member.userId, mensajeId: String(messageId) }, `[MARK_DELIVERED] mensaje_id=${messageId} | user_id=${member.userId}`);
    const reply: ReceiptReply = { status: "ok", mensaje_id: String(messageId), user_id: member.userId };
    return reply;
  });

  onEvent(ctx, socket, member, "mark_read", "read", async (payload) => {
    const messageId = parseReceipt(payload);
    await ctx.delivery.markRead({ messageId, userId }, onBehalfOf(userId));
    ctx.logger.info({ userId: member.userId, mensajeId: String(messageId) }, `[MARK_READ] mensaje_id=${messageId} | user_id=${member.userId}`);
    const reply: ReceiptReply = { status: "ok", mensaje_id: String(messageId), user_id: member.userId };
    return reply;
  });
}
