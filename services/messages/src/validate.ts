import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument, isHttpUrl, isIsoTimestamp, requireId } from "@redup/kit";
import type { SendMessageRequest } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import type { TipoMensaje } from "./db/schema.js";
import { tipoFromEnum } from "./mappers.js";

export const MAX_URL_LENGTH = 2048;
export const MAX_CLIENT_MSG_ID_LENGTH = 64;
export const MAX_METADATA_BYTES = 16 * 1024;
export const MAX_ORIGIN_LENGTH = 128;

export interface SendInput {
  senderId: bigint;
  type: RoomType.DIRECTO | RoomType.GRUPAL;
  to: bigint;
  tipo: TipoMensaje;
  content: string | null;
  urlArchivo: string | null;
  clientTimestamp: string | undefined;
  clientMsgId: string | undefined;
  metadata: JsonObject;
  origin: string;
}

/** Characters as a person counts them (code points), not UTF-16 units. */
const charCount = (s: string) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

// PostgreSQL text and jsonb cannot hold NUL; refusing it here keeps it a clear InvalidArgument.
const hasNul = (s: string) => s.includes("\u0000");

export function validateContent(content: string, maxLength: number): string {
  if (hasNul(content)) throw invalidArgument("message must not contain NUL characters");
  if (content.length > maxLength * 2 || charCount(content) > maxLength)
    throw invalidArgument(`message is longer than ${maxLength} characters`);
  return content;
}

export function validateSend(req: SendMessageRequest, maxLength: number): SendInput {
  const senderId = requireId(req.senderId, "sender_id");
  if (req.type !== RoomType.DIRECTO && req.type !== RoomType.GRUPAL)
    throw invalidArgument("type must be ROOM_TYPE_DIRECTO or ROOM_TYPE_GRUPAL");
  const to = requireId(req.to, "to");
  if (req.type === RoomType.DIRECTO && to === senderId) throw invalidArgument("a direct message needs a recipient other than the sender");
  const tipo = tipoFromEnum(req.messageType);
  if (!tipo) throw invalidArgument("message_type is not a known type");

  const content = validateContent(req.content, maxLength);
  if ((tipo === "texto" || tipo === "sistema") && content.trim() === "")
    throw invalidArgument(`a ${tipo} message needs a non-empty message`);

  const url = req.urlArchivo;
  if (url !== "") {
    if (url.length > MAX_URL_LENGTH) throw invalidArgument(`url_archivo is longer than ${MAX_URL_LENGTH} characters`);
    if (!isHttpUrl(url)) throw invalidArgument("url_archivo must be an http(s) URL");
  } else if (tipo === "imagen" || tipo === "archivo" || tipo === "audio") {
    throw invalidArgument(`a ${tipo} message needs url_archivo`);
  }

  if (req.clientTimestamp !== "" && (req.clientTimestamp.length > 64 || !isIsoTimestamp(req.clientTimestamp)))
    throw invalidArgument("timestamp must be an ISO 8601 date-time");
  if (req.clientMsgId.length > MAX_CLIENT_MSG_ID_LENGTH || hasNul(req.clientMsgId))
    throw invalidArgument(`client_msg_id must be at most ${MAX_CLIENT_MSG_ID_LENGTH} characters`);
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
    content: content === "" ? null : content,
    urlArchivo: url === "" ? null : url,
    clientTimestamp: req.clientTimestamp === "" ? undefined : req.clientTimestamp,
    clientMsgId: req.clientMsgId === "" ? undefined : req.clientMsgId,
    metadata,
    origin: req.origin,
  };
}
