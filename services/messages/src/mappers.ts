import type { MessageInitShape } from "@bufbuild/protobuf";
import { toTimestamp } from "@redup/kit";
import { MessageType, type MessageSchema } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType, type Room } from "@redup/proto/redup/rooms/v1/rooms_pb";
import type { TipoMensaje } from "./db/schema.js";
import type { StoredMessage } from "./db/queries.js";

const TO_ENUM: Record<TipoMensaje, MessageType> = {
  texto: MessageType.TEXTO,
  imagen: MessageType.IMAGEN,
  archivo: MessageType.ARCHIVO,
  audio: MessageType.AUDIO,
  sistema: MessageType.SISTEMA,
};

const FROM_ENUM = new Map<MessageType, TipoMensaje>(
  (Object.entries(TO_ENUM) as [TipoMensaje, MessageType][]).map(([name, value]) => [value, name]),
);

/** The column value of a message type; unspecified is the guide's default, texto. */
export function tipoFromEnum(type: MessageType): TipoMensaje | undefined {
  return type === MessageType.UNSPECIFIED ? "texto" : FROM_ENUM.get(type);
}

/** The addressee as the sender named it: the other user of a direct room, or the group. */
function addressee(room: Room, senderId: bigint): bigint {
  if (room.type === RoomType.GRUPAL) return room.groupId;
  return room.userAId === senderId ? room.userBId : room.userAId;
}

export function toMessage({ mensaje, cliente }: StoredMessage, room: Room): MessageInitShape<typeof MessageSchema> {
  const deleted = mensaje.eliminadoEn !== null;
  return {
    id: mensaje.id,
    uuid: mensaje.mensajeUuid,
    roomId: mensaje.salaChatId,
    roomType: room.type,
    senderId: mensaje.remitenteId,
    to: addressee(room, mensaje.remitenteId),
    messageType: TO_ENUM[mensaje.tipoMensaje],
    content: deleted ? "" : (mensaje.contenido ?? ""),
    urlArchivo: deleted ? "" : (mensaje.urlArchivo ?? ""),
    metadata: mensaje.metadatos,
    sentAt: toTimestamp(mensaje.enviadoEn),
    editedAt: toTimestamp(mensaje.editadoEn),
    deletedAt: toTimestamp(mensaje.eliminadoEn),
    clientTimestamp: cliente?.clientTimestamp ?? "",
    clientMsgId: cliente?.clientMsgId ?? "",
  };
}
