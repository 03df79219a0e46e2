import { preparedQuery } from "@redup/kit";
import type { DeliveryDb } from "./queries.js";

/**
 * Marks read everything `userId` received in the room of `messageId` up to that message, and
 * moves the user's marker there (never back). One statement: the rows that became read come
 * back with their senders, for the receipts (recorded in the receipts feed too). Nothing happens (undefined) unless the user is a
 * recipient of that message.
 */
export const MARK_READ_UP_TO = `
with m as (
  select d.sala_chat_id from despachos_mensaje d
  where d.mensaje_id = $1 and exists (select 1 from destinatarios_mensaje r where r.mensaje_id = $1 and r.destinatario_id = $2)
), antes as (
  select k.mensaje_id from marcadores_lectura k, m where k.usuario_id = $2 and k.sala_chat_id = m.sala_chat_id
), leidos as (
  update destinatarios_mensaje r
  set leido_en = now(), entregado_en = coalesce(r.entregado_en, now())
  from despachos_mensaje d, m
  where r.destinatario_id = $2 and r.sala_chat_id = m.sala_chat_id and r.leido_en is null and r.mensaje_id <= $1
    and d.mensaje_id = r.mensaje_id
  returning r.mensaje_id, d.remitente_id, r.leido_en
), recibos as (
  insert into cambios_recibo (remitente_id, mensaje_id, destinatario_id, sala_chat_id, leido, en)
  select remitente_id, mensaje_id, $2, (select sala_chat_id from m), true, leido_en from leidos
), marcador as (
  insert into marcadores_lectura as k (usuario_id, sala_chat_id, mensaje_id)
  select $2, sala_chat_id, $1 from m
  on conflict (usuario_id, sala_chat_id) do update
    set mensaje_id = greatest(k.mensaje_id, excluded.mensaje_id), actualizado_en = now()
  returning mensaje_id
)
select (select sala_chat_id::text from m) as sala,
       (select mensaje_id::text from marcador) as marcador,
       (select mensaje_id::text from antes) as marcador_antes,
       -- What stays unread: the statement sees the rows as they were before its update.
       (select count(*)::int from destinatarios_mensaje r, m
         where r.destinatario_id = $2 and r.sala_chat_id = m.sala_chat_id and r.leido_en is null) - (select count(*)::int from leidos) as unread,
       coalesce((select json_agg(json_build_object('id', mensaje_id::text, 'remitente', remitente_id::text, 'en', leido_en) order by mensaje_id) from leidos), '[]') as leidos`;

export interface ReadUpTo {
  roomId: bigint;
  readUpTo: bigint;
  /** Whether the marker moved forward with this call. */
  moved: boolean;
  /** Messages of the room the user received and still has not read. */
  unread: number;
  newlyRead: { messageId: bigint; senderId: bigint; at: Date }[];
}

export async function markReadUpTo(db: DeliveryDb, messageId: bigint, userId: bigint): Promise<ReadUpTo | undefined> {
  const [row] = await preparedQuery<{ sala: string | null; marcador: string | null; marcador_antes: string | null; unread: number; leidos: unknown }>(db, "delivery_read_up_to", MARK_READ_UP_TO, [messageId, userId]);
  if (!row?.sala || !row.marcador) return undefined;
  const read = (typeof row.leidos === "string" ? JSON.parse(row.leidos) : row.leidos) as { id: string; remitente: string; en: string }[];
  return {
    roomId: BigInt(row.sala),
    readUpTo: BigInt(row.marcador),
    moved: row.marcador_antes === null || BigInt(row.marcador_antes) < BigInt(row.marcador),
    unread: Number(row.unread),
    newlyRead: read.map((r) => ({ messageId: BigInt(r.id), senderId: BigInt(r.remitente), at: new Date(r.en) })),
  };
}

/**
 * Moves a user's marker of a message's room forward to that message (never back), after a
 * single mark_read. Answers the room, the marker and what stays unread when the marker moved;
 * undefined when it did not.
 */
const ADVANCE_MARKER = `
with m as (
  select sala_chat_id from despachos_mensaje where mensaje_id = $2
), movido as (
  insert into marcadores_lectura as k (usuario_id, sala_chat_id, mensaje_id)
  select $1, sala_chat_id, $2 from m
  on conflict (usuario_id, sala_chat_id) do update set mensaje_id = excluded.mensaje_id, actualizado_en = now()
    where k.mensaje_id < excluded.mensaje_id
  returning sala_chat_id, mensaje_id
)
select sala_chat_id::text as sala, mensaje_id::text as marcador,
       (select count(*)::int from destinatarios_mensaje r
         where r.destinatario_id = $1 and r.sala_chat_id = movido.sala_chat_id and r.leido_en is null) as unread
from movido`;

export async function advanceMarker(db: DeliveryDb, userId: bigint, messageId: bigint): Promise<{ roomId: bigint; readUpTo: bigint; unread: number } | undefined> {
  const [row] = await preparedQuery<{ sala: string; marcador: string; unread: number }>(db, "delivery_advance_marker", ADVANCE_MARKER, [userId, messageId]);
  return row && { roomId: BigInt(row.sala), readUpTo: BigInt(row.marcador), unread: Number(row.unread) };
}

/**
 * A user's unread count and marker in each of these rooms. Each count reads one range of the
 * partial index of unread rows (destinatarios_mensaje_no_leidos_idx: user, room, message).
 */
export const READ_STATE = `
select s.sala::text as sala,
       (select count(*)::int from destinatarios_mensaje r
         where r.destinatario_id = $1 and r.sala_chat_id = s.sala and r.leido_en is null) as unread,
       coalesce(k.mensaje_id, 0)::text as marcador
from unnest($2::bigint[]) s(sala)
left join marcadores_lectura k on k.usuario_id = $1 and k.sala_chat_id = s.sala`;

export async function readState(db: DeliveryDb, userId: bigint, roomIds: bigint[]): Promise<Map<bigint, { unread: number; readUpTo: bigint }>> {
  const rows = await preparedQuery<{ sala: string; unread: number; marcador: string }>(db, "delivery_read_state", READ_STATE, [userId, roomIds]);
  return new Map(rows.map((r) => [BigInt(r.sala), { unread: Number(r.unread), readUpTo: BigInt(r.marcador) }]));
}
