import type { MessageInitShape } from "@bufbuild/protobuf";
import { toTimestamp } from "@redup/kit";
import { RoomType, type GroupMemberSchema, type RoomSchema } from "@redup/proto/redup/rooms/v1/rooms_pb";
import type { MiembroGrupo, SalaChat } from "./db/schema.js";

export function toRoom(row: SalaChat): MessageInitShape<typeof RoomSchema> {
  return {
    id: row.id,
    uuid: row.salaUuid,
    type: row.tipoSala === "directo" ? RoomType.DIRECTO : RoomType.GRUPAL,
    userAId: row.usuarioAId ?? 0n,
    userBId: row.usuarioBId ?? 0n,
    groupId: row.grupoId ?? 0n,
    createdAt: toTimestamp(row.creadoEn),
    updatedAt: toTimestamp(row.actualizadoEn),
  };
}

export function toMember(row: MiembroGrupo): MessageInitShape<typeof GroupMemberSchema> {
  return { groupId: row.grupoId, userId: row.usuarioId, joinedAt: toTimestamp(row.unidoEn) };
}
