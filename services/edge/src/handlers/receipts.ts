import type { EdgeContext } from "../context.js";
import type { ReceiptReply } from "../events.js";
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

export function receiptHandlers(ctx: EdgeContext): EventTable {
  const receipt = (reply: "delivered" | "read", tag: string, kind: "delivered" | "read"): EventHandler => ({
    reply,
    async handle(member, payload) {
      const messageId = parseReceipt(member, payload);
      // Gathered with other sockets' confirmations; the user is the socket's own (checked above).
      await ctx.marks({ kind: { case: kind, value: { messageId, userId: BigInt(member.userId) } } });
      ctx.logger.info({ userId: member.userId, mensajeId: String(messageId) }, `[${tag}] mensaje_id=${messageId} | user_id=${member.userId}`);
      const answer: ReceiptReply = { status: "ok", mensaje_id: String(messageId), user_id: member.userId };
      return answer;
    },
  });
  return {
    mark_delivered: receipt("delivered", "MARK_DELIVERED", "delivered"),
    mark_read: receipt("read", "MARK_READ", "read"),
  };
}
