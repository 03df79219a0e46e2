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

  const receipts = [
    { event: "mark_delivered", reply: "delivered", tag: "MARK_DELIVERED", kind: "delivered" },
    { event: "mark_read", reply: "read", tag: "MARK_READ", kind: "read" },
  ] as const;
  for (const { event, reply, tag, kind } of receipts) {
    onEvent(ctx, socket, member, event, reply, async (payload) => {
      const messageId = parseReceipt(payload);
      // Gathered with other sockets' confirmations; the user is the socket's own (checked above).
      await ctx.marks({ kind: { case: kind, value: { messageId, userId } } });
      ctx.logger.info({ userId: member.userId, mensajeId: String(messageId) }, `[${tag}] mensaje_id=${messageId} | user_id=${member.userId}`);
      const answer: ReceiptReply = { status: "ok", mensaje_id: String(messageId), user_id: member.userId };
      return answer;
    });
  }
}
