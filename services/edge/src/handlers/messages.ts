import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describeError, messageTypeOf, onBehalfOf } from "@redup/kit";
import { MessageSchema } from "@redup/proto/redup/messages/v1/messages_pb";
import type { EdgeContext } from "../context.js";
import type { MessageDeletedReply, MessageEditedReply, SendAck } from "../events.js";
import { seenKey, type Member } from "../fanout.js";
import { ProtocolError, toProtocolError } from "../protocol/errors.js";
import { ackOfStored, isoUtc, roomTypeOf, toAck } from "../protocol/format.js";
import { asObject, parseId, parseSend, parseText, type SendInput } from "../protocol/parse.js";
import type { EventTable } from "./dispatch.js";
import { ensureMember } from "./groups.js";

/**
 * Failures where the guide's fallback applies (the message goes out live, unsaved): the
 * store certainly did not happen — messages or its dependencies were unreachable, the
 * transaction was aborted, or an existing upred_db refused the row (FailedPrecondition,
 * e.g. an unknown recipient). A deadline, cancellation or internal error leaves the outcome
 * unknown (the message may yet be stored), so those are refused as SERVICE_UNAVAILABLE and
 * the client retries, with client_msg_id to stay idempotent. Overload (ResourceExhausted) is
 * no outage: the send is refused as OVERLOADED, and the client retries after a pause.
 */
const STORE_CERTAINLY_FAILED = new Set([Code.Unavailable, Code.Aborted, Code.FailedPrecondition]);
function storeFailed(err: unknown): boolean {
  return err instanceof ConnectError && STORE_CERTAINLY_FAILED.has(err.code);
}

export function messageHandlers(ctx: EdgeContext): EventTable {
  /** The guide's fallback: deliver live through NATS without storing, and say so in the ACK. */
  const sendUnsaved = async (member: Member, input: SendInput, cause: unknown): Promise<SendAck> => {
    ctx.logger.warn({ userId: member.userId, to: String(input.to), err: describeError(cause) }, "[DB-ERROR] message not stored, delivering live only");
    const message = create(MessageSchema, {
      id: 0n,
      uuid: randomUUID(),
      roomId: 0n,
      roomType: roomTypeOf(input.type),
      senderId: BigInt(member.userId),
      to: input.to,
      messageType: messageTypeOf(input.kind),
      content: input.text,
      urlArchivo: input.url ?? "",
      sentAt: timestampNow(),
      clientTimestamp: input.timestamp ?? "",
      clientMsgId: input.clientMsgId ?? "",
    });
    try {
      await ctx.fanout.publishUnsaved(message, ctx.fanout.originOf(member));
    } catch (err) {
      ctx.metrics.natsErrors.inc({ kind: "publish" });
      throw new ProtocolError("SERVICE_UNAVAILABLE", "no se pudo guardar ni entregar el mensaje; reintenta más tarde", { cause: err });
    }
    return toAck(message, false);
  };

  return {
    send_message: {
      reply: "ack",
      shedding: () => ctx.send.shedding,
      limit: ctx.sendLimit,
      async handle(member, payload, deadline) {
        const input = parseSend(payload, BigInt(member.userId), ctx.config.maxMessageLength);
        ctx.logger.info(
          { userId: member.userId, sid: member.sid, to: String(input.to), type: input.type, messageType: input.kind },
          `[SEND_MESSAGE] from=${member.userId} to=${input.to} type=${input.type} message_type=${input.kind} timestamp=${input.timestamp ?? ""}`,
        );
        if (input.type === "grupal") {
          try {
            await ensureMember(ctx, member.userId, input.to);
          } catch (err) {
            throw toProtocolError(err);
          }
        }
        let ack: SendAck;
        try {
          // The socket's own user is the sender (parseSend); the call carries many users' sends.
          const res = await ctx.send({
            senderId: BigInt(member.userId),
            type: roomTypeOf(input.type),
            to: input.to,
            messageType: messageTypeOf(input.kind),
            content: input.text,
            urlArchivo: input.url ?? "",
            clientTimestamp: input.timestamp ?? "",
            clientMsgId: input.clientMsgId ?? "",
            origin: ctx.fanout.originOf(member),
          }, deadline);
          // A retry of a stored client_msg_id answers the original, whole; a new message only its ids.
          ack = res.duplicate ? toAck(res.message!, true) : ackOfStored(input, member.userId, res.message!);
        } catch (err) {
          // An outage falls back only for a send without a client_msg_id. One with a key may be
          // the retry of a send whose outcome was unknown and that was stored after all; an
          // unsaved copy next to it would reach every recipient twice, which the key promises
          // never happens. So it is refused as SERVICE_UNAVAILABLE and retried until stored.
          // A row the database refuses is refused on every attempt: that still falls back.
          const refusedRow = err instanceof ConnectError && err.code === Code.FailedPrecondition;
          if (storeFailed(err) && (input.clientMsgId === null || refusedRow)) return sendUnsaved(member, input, err);
          throw toProtocolError(err, { [Code.PermissionDenied]: "NOT_A_MEMBER" });
        }
        // This socket has the message now: its live event (or a later replay) skips it.
        member.remember(seenKey(ack.mensaje_id, ack.mensaje_uuid));
        return ack;
      },
    },

    edit_message: {
      reply: "message_edited",
      async handle(member, payload) {
        const userId = BigInt(member.userId);
        const p = asObject(payload);
        const messageId = parseId(p["mensaje_id"], "mensaje_id");
        const content = parseText(p["message"], ctx.config.maxMessageLength);
        try {
          const { message } = await ctx.messages.editMessage({ messageId, userId, content }, onBehalfOf(userId));
          const reply: MessageEditedReply = { status: "ok", mensaje_id: String(messageId), message: message!.content, editado_en: isoUtc(message!.editedAt) };
          return reply;
        } catch (err) {
          throw toProtocolError(err, { [Code.PermissionDenied]: "NOT_THE_SENDER", [Code.FailedPrecondition]: "MESSAGE_DELETED", [Code.InvalidArgument]: "EMPTY_MESSAGE" });
        }
      },
    },

    delete_message: {
      reply: "message_deleted",
      async handle(member, payload) {
        const userId = BigInt(member.userId);
        const messageId = parseId(asObject(payload)["mensaje_id"], "mensaje_id");
        try {
          const { message } = await ctx.messages.deleteMessage({ messageId, userId }, onBehalfOf(userId));
          const reply: MessageDeletedReply = { status: "ok", mensaje_id: String(messageId), eliminado_en: isoUtc(message!.deletedAt) };
          return reply;
        } catch (err) {
          throw toProtocolError(err, { [Code.PermissionDenied]: "NOT_THE_SENDER" });
        }
      },
    },
  };
}
