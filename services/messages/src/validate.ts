import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument, messageKindOf, requireId, sendRule, SEND_LIMITS, textRule, type MessageKind, type SendRule } from "@redup/kit";
import type { SendMessageRequest } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";

export const MAX_METADATA_BYTES = 16 * 1024;
export const MAX_ORIGIN_LENGTH = 128;

export interface SendInput {
  senderId: bigint;
  type: RoomType.DIRECTO | RoomType.GRUPAL;
  to: bigint;
  tipo: MessageKind;
  content: string | null;
  urlArchivo: string | null;
  clientTimestamp: string | undefined;
  clientMsgId: string | undefined;
  metadata: JsonObject;
  origin: string;
}

/** How this API words each send rule (the rules themselves are the kit's, shared with the edge). */
function refusal(rule: SendRule, kind: MessageKind, maxLength: number) {
  switch (rule) {
    case "MESSAGE_TOO_LONG":
      return invalidArgument(`message is longer than ${maxLength} characters`);
    case "INVALID_TEXT":
      return invalidArgument("message must not contain NUL characters");
    case "EMPTY_MESSAGE":
      return invalidArgument(`a ${kind} message needs a non-empty message`);
    case "MISSING_URL":
      return invalidArgument(`a ${kind} message needs url_archivo`);
    case "INVALID_URL":
      return invalidArgument(`url_archivo must be an http(s) URL of at most ${SEND_LIMITS.maxUrlLength} characters`);
    case "INVALID_TIMESTAMP":
      return invalidArgument("timestamp must be an ISO 8601 date-time");
    case "INVALID_CLIENT_MSG_ID":
      return invalidArgument(`client_msg_id must be at most ${SEND_LIMITS.maxClientMsgIdLength} characters, without NUL`);
  }
}

/** An edit's new text: the same text rules as a send. */
export function validateContent(content: string, maxLength: number, kind: MessageKind = "texto"): string {
  const rule = textRule(content, maxLength);
  if (rule) throw refusal(rule, kind, maxLength);
  return content;
}

export function validateSend(req: SendMessageRequest, maxLength: number): SendInput {
  const senderId = requireId(req.senderId, "sender_id");
  if (req.type !== RoomType.DIRECTO && req.type !== RoomType.GRUPAL)
    throw invalidArgument("type must be ROOM_TYPE_DIRECTO or ROOM_TYPE_GRUPAL");
  const to = requireId(req.to, "to");
  if (req.type === RoomType.DIRECTO && to === senderId) throw invalidArgument("a direct message needs a recipient other than the sender");
  const tipo = messageKindOf(req.messageType);
  if (!tipo) throw invalidArgument("message_type is not a known type");

  // Empty strings are proto3's "not set".
  const rule = sendRule(
    {
      kind: tipo,
      text: req.content,
      url: req.urlArchivo === "" ? undefined : req.urlArchivo,
      timestamp: req.clientTimestamp === "" ? undefined : req.clientTimestamp,
      clientMsgId: req.clientMsgId === "" ? undefined : req.clientMsgId,
    },
    maxLength,
  );
  if (rule) throw refusal(rule, tipo, maxLength);
  if (req.origin.length > MAX_ORIGIN_LENGTH) throw invalidArgument(`origin must be at most ${MAX_ORIGIN_LENGTH} characters`);

  const metadata = req.metadata ?? {};
  const json = JSON.stringify(metadata);
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES) throw invalidArgument(`metadata is larger than ${MAX_METADATA_BYTES} bytes`);
  if (json.includes("\\u0000")) throw invalidArgument("metadata must not contain NUL characters");

  return {
    senderId,
    type: req.type,
    to,
    tipo,
    content: req.content === "" ? null : req.content,
    urlArchivo: req.urlArchivo === "" ? null : req.urlArchivo,
    clientTimestamp: req.clientTimestamp === "" ? undefined : req.clientTimestamp,
    clientMsgId: req.clientMsgId === "" ? undefined : req.clientMsgId,
    metadata,
    origin: req.origin,
  };
}
