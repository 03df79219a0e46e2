import { preparedQuery } from "@redup/kit";
import type { MessagesDb } from "./queries.js";

/** A room of a user, as the rooms service lists it. */
export interface UserRoomRef {
  roomId: bigint;
  createdAt: Date;
}

/** Where a page of conversations starts: after this (activity, room) in newest-first order. */
export interface ConversationCursor {
  /** Microseconds since the epoch: PostgreSQL's own precision, so no room is skipped or repeated. */
  activityMicros: bigint;
  roomId: bigint;
}

export interface ConversationRow {
  roomId: bigint;
  activity: Date;
  cursor: ConversationCursor;
  /** The room's newest message; undefined when it has none. */
  lastMessageId: bigint | undefined;
}

/**
 * One page of a user's rooms, most recent activity first. A room's activity is when it last
 * had a message: salas_secuencia's time (one primary-key probe per room), else its newest
 * message's (rooms written before that table existed), else its creation. The newest message
 * of each room on the page comes from mensajes_sala_id_idx, one probe per room.
 */
export const CONVERSATION_PAGE = `
with s as (
  select * from unnest($1::bigint[], $2::timestamptz[]) as s(sala, creado)
), a as (
  select s.sala,
         coalesce(q.ultimo_en, (select m.enviado_en from mensajes m where m.sala_chat_id = s.sala order by m.id desc limit 1), s.creado) as act
  from s left join salas_secuencia q on q.sala_chat_id = s.sala
), pagina as (
  select sala, act from a
  where $3::bigint is null or (act, sala) < ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::bigint)
  order by act desc, sala desc
  limit $5
)
select p.sala::text as sala, p.act, (extract(epoch from p.act) * 1000000)::bigint::text as act_us,
       (select m.id from mensajes m where m.sala_chat_id = p.sala order by m.id desc limit 1)::text as ultimo
from pagina p
order by p.act desc, p.sala desc`;

export async function conversationPage(db: MessagesDb, rooms: UserRoomRef[], after: ConversationCursor | undefined, limit: number): Promise<ConversationRow[]> {
  const rows = await preparedQuery<{ sala: string; act: unknown; act_us: string; ultimo: string | null }>(db, "messages_conversation_page", CONVERSATION_PAGE, [
    rooms.map((r) => r.roomId),
    rooms.map((r) => r.createdAt.toISOString()),
    after?.activityMicros ?? null,
    after?.roomId ?? null,
    limit,
  ]);
  return rows.map((r) => ({
    roomId: BigInt(r.sala),
    activity: r.act instanceof Date ? r.act : new Date(String(r.act)),
    cursor: { activityMicros: BigInt(r.act_us), roomId: BigInt(r.sala) },
    lastMessageId: r.ultimo === null ? undefined : BigInt(r.ultimo),
  }));
}
