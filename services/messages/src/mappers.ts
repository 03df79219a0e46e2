import type { MessageInitShape } from "@bufbuild/protobuf";
import { messageTypeOf, toTimestamp } from "@redup/kit";
import type { MessageSchema } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType, type Room } from "@redup/proto/redup/rooms/v1/rooms_pb";
import type { StoredMessage } from "./db/queries.js";

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
    messageType: messageTypeOf(mensaje.tipoMensaje),
    content: deleted ? "" : (mensaje.contenido ?? ""),
    urlArchivo: deleted ? "" : (mensaje.urlArchivo ?? ""),
    // Left unset when empty: most messages carry none, and an empty Struct still costs encoding.
    metadata: Object.keys(mensaje.metadatos).length > 0 ? mensaje.metadatos : undefined,
    sentAt: toTimestamp(mensaje.enviadoEn),
    editedAt: toTimestamp(mensaje.editadoEn),
    deletedAt: toTimestamp(mensaje.eliminadoEn),
    clientTimestamp: cliente?.clientTimestamp ?? "",
    clientMsgId: cliente?.clientMsgId ?? "",
  };
}
