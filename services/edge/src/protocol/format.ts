import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { messageKindOf, type MessageKind as KitKind } from "@redup/kit";
import type { Message } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import type { ChatType, LastMessage, MessageKind, ReceivedMessage, SendAck } from "../events.js";
import type { SendInput } from "./parse.js";

// The protocol's kinds (events.ts, for client typing) and the kit's (read off the proto) must
// be the same set: this line stops compiling when one of them gains or loses a kind.
export const KINDS_MATCH: [MessageKind] extends [KitKind] ? ([KitKind] extends [MessageKind] ? true : never) : never = true;

export const roomTypeOf = (type: ChatType) => (type === "directo" ? RoomType.DIRECTO : RoomType.GRUPAL);
const chatTypeOf = (type: RoomType): ChatType => (type === RoomType.GRUPAL ? "grupal" : "directo");

/** The guide's `enviado_en` shape (Python's isoformat): 2024-01-15T10:30:00.123456+00:00. */
export function isoUtc(ts: Timestamp | Date | undefined): string {
  const date = ts === undefined ? new Date() : ts instanceof Date ? ts : timestampDate(ts);
  const micros = ts !== undefined && !(ts instanceof Date) ? Math.floor(ts.nanos / 1000) : date.getUTCMilliseconds() * 1000;
  return `${date.toISOString().slice(0, 19)}.${String(micros).padStart(6, "0")}+00:00`;
}

const idOrNull = (id: bigint) => (id === 0n ? null : String(id));

/** receive_message, exactly the guide's fields. Unsaved (fallback) messages have null ids. */
export function toReceived(m: Message): ReceivedMessage {
  const sentAt = isoUtc(m.sentAt);
  return {
    from: String(m.senderId),
    to: String(m.to),
    message: m.content,
    type: chatTypeOf(m.roomType),
    message_type: messageKindOf(m.messageType) ?? "texto",
    timestamp: m.clientTimestamp || sentAt,
    mensaje_id: idOrNull(m.id),
    mensaje_uuid: m.uuid,
    enviado_en: sentAt,
    sala_chat_id: idOrNull(m.roomId),
    url_archivo: m.urlArchivo === "" ? null : m.urlArchivo,
  };
}

/** A message as it is now: receive_message's fields with its edit and its deletion. */
export function toLastMessage(m: Message): LastMessage {
  return { ...toReceived(m), editado_en: m.editedAt ? isoUtc(m.editedAt) : null, eliminado_en: m.deletedAt ? isoUtc(m.deletedAt) : null };
}

/**
 * The ACK of a message just stored, from what the socket sent and what only the store knows
 * (ids, uuid, time): the messages service answers the edge with those alone.
 */
export function ackOfStored(input: SendInput, userId: string, stored: Message): SendAck {
  const sentAt = isoUtc(stored.sentAt);
  return {
    status: "sent",
    to: String(input.to),
    sender_id: userId,
    timestamp: input.timestamp ?? sentAt,
    type: input.type,
    message_type: input.kind,
    saved_to_db: true,
    mensaje_id: String(stored.id),
    sala_chat_id: String(stored.roomId),
    message: "Mensaje enviado y guardado en BD",
    mensaje_uuid: stored.uuid,
    enviado_en: sentAt,
    client_msg_id: input.clientMsgId,
  };
}

/** The send_message ACK, every field of the guide plus the protocol's additions. */
export function toAck(m: Message, saved: boolean): SendAck {
  const received = toReceived(m);
  return {
    status: "sent",
    to: received.to,
    sender_id: received.from,
    timestamp: received.timestamp,
    type: received.type,
    message_type: received.message_type,
    saved_to_db: saved,
    mensaje_id: saved ? received.mensaje_id : null,
    sala_chat_id: saved ? received.sala_chat_id : null,
    message: saved ? "Mensaje enviado y guardado en BD" : "Mensaje enviado (no guardado en BD)",
    mensaje_uuid: received.mensaje_uuid,
    enviado_en: received.enviado_en,
    client_msg_id: m.clientMsgId === "" ? null : m.clientMsgId,
  };
}
