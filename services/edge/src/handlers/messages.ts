import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describeError, onBehalfOf } from "@redup/kit";
import { MessageSchema } from "@redup/proto/redup/messages/v1/messages_pb";
import type { EdgeContext, EdgeSocket } from "../context.js";
import type { MessageDeletedReply, MessageEditedReply, SendAck } from "../events.js";
import type { Member } from "../fanout.js";
import { ProtocolError, toProtocolError } from "../protocol/errors.js";
import { ENUM_BY_KIND, isoUtc, roomTypeOf, toAck } from "../protocol/format.js";
import { asObject, parseId, parseSend, parseText, type SendInput } from "../protocol/parse.js";
import { onEvent } from "./dispatch.js";
import { ensureMember } from "./groups.js";

/**
 * Failures where the guide's fallback applies (the message goes out live, unsaved): the
 * store certainly did not happen — messages or its dependencies were unreachable, the
 * transaction was aborted, or an existing upred_db refused the row (FailedPrecondition,
 * e.g. an unknown recipient). A deadline, cancellation or internal error leaves the outcome
 * unknown (the message may yet be stored), so those are refused as SERVICE_UNAVAILABLE and
 * the client retries, with client_msg_id to stay idempotent.
 */
const STORE_CERTAINLY_FAILED = new Set([Code.Unavailable, Code.Aborted, Code.ResourceExhausted, Code.FailedPrecondition]);
function storeFailed(err: unknown): boolean {
  return err instanceof ConnectError && STORE_CERTAINLY_FAILED.has(err.code);
}

export function registerMessageHandlers(ctx: EdgeContext, socket: EdgeSocket, member: Member): void {
  const userId = BigInt(member.userId);

  /** The guide's fallback: deliver live through NATS without storing, and say so in the ACK. */
  const sendUnsaved = async (input: SendInput, cause: unknown): Promise<SendAck> => {
    ctx.logger.warn({ userId: member.userId, to: String(input.to), err: describeError(cause) }, "[DB-ERROR] message not stored, delivering live only");
    const message = create(MessageSchema, {
      id: 0n,
      uuid: randomUUID(),
      roomId: 0n,
      roomType: roomTypeOf(input.type),
      senderId: userId,
      to: input.to,
      messageType: ENUM_BY_KIND[input.kind],
      content: input.text,
      urlArchivo: input.url ?? "",
      sentAt: timestampNow(),
      clientTimestamp: input.timestamp ?? "",
      clientMsgId: input.clientMsgId ?? "",
    });
    try {
      await ctx.fanout.publishMessage(message, ctx.fanout.originOf(member));
    } catch (err) {
      ctx.metrics.natsErrors.inc({ kind: "publish" });
      throw new ProtocolError("SERVICE_UNAVAILABLE", "no se pudo guardar ni entregar el mensaje; reintenta más tarde", { cause: err });
    }
    return toAck(message, false);
  };

  onEvent(ctx, socket, member, "send_message", "ack", async (payload) => {
    const input = parseSend(payload, userId, ctx.config.maxMessageLength);
    ctx.logger.info(
      { userId: member.userId, sid: socket.id, to: String(input.to), type: input.type, messageType: input.kind },
      `[SEND_MESSAGE] from=${member.userId} to=${input.to} type=${input.type} message_type=${input.kind} timestamp=${input.timestamp ?? ""}`,
    );
    if (input.type === "grupal") {
      try {
        await ensureMember(ctx, member.userId, input.to);
      } catch (err) {
        throw toProtocolError(err);
      }
    }
    try {
      // The socket's own user is the sender (parseSend); the call carries many users' sends.
      const res = await ctx.send({
        senderId: userId,
        type: roomTypeOf(input.type),
        to: input.to,
        messageType: ENUM_BY_KIND[input.kind],
        content: input.text,
        urlArchivo: input.url ?? "",
        clientTimestamp: input.timestamp ?? "",
        clientMsgId: input.clientMsgId ?? "",
        origin: ctx.fanout.originOf(member),
      });
      if (!res.dispatched && !res.duplicate) {
        // Stored, but delivery could not publish it yet (its outbox will): deliver it live
        // from here so recipients do not wait for delivery to come back. Sockets get it once.
        await ctx.fanout.publishMessage(res.message!, ctx.fanout.originOf(member)).catch((err: unknown) => {
          ctx.metrics.natsErrors.inc({ kind: "publish" });
          ctx.logger.warn({ userId: member.userId, err: describeError(err) }, "[NATS] stored message not published live; it arrives by catch-up");
        });
      }
      return toAck(res.message!, true);
    } catch (err) {
      if (storeFailed(err)) return sendUnsaved(input, err);
      throw toProtocolError(err, { [Code.PermissionDenied]: "NOT_A_MEMBER" });
    }
  });

  onEvent(ctx, socket, member, "edit_message", "message_edited", async (payload) => {
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
  });

  onEvent(ctx, socket, member, "delete_message", "message_deleted", async (payload) => {
    const messageId = parseId(asObject(payload)["mensaje_id"], "mensaje_id");
    try {
      const { message } = await ctx.messages.deleteMessage({ messageId, userId }, onBehalfOf(userId));
      const reply: MessageDeletedReply = { status: "ok", mensaje_id: String(messageId), eliminado_en: isoUtc(message!.deletedAt) };
      return reply;
    } catch (err) {
      throw toProtocolError(err, { [Code.PermissionDenied]: "NOT_THE_SENDER" });
    }
  });
}
