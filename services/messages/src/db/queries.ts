import { randomUUID } from "node:crypto";
import { preparedQuery, sqlStateOf, transaction, type Db } from "@redup/kit";
import { and, asc, desc, eq, inArray, lt, lte, sql } from "drizzle-orm";
import * as schema from "./schema.js";
import { mensajes, mensajesCliente, mensajesDespachoPendiente, type Mensaje, type MensajeCliente } from "./schema.js";

export type MessagesDb = Db<typeof schema>;

/** A message row with what its client attached (null when nothing was attached). */
export interface StoredMessage {
  mensaje: Mensaje;
  cliente: MensajeCliente | null;
}

const withClient = (db: MessagesDb) =>
  db
    .select({ mensaje: mensajes, cliente: mensajesCliente })
    .from(mensajes)
    .leftJoin(mensajesCliente, eq(mensajesCliente.mensajeId, mensajes.id));

export async function findByClientMsgId(db: MessagesDb, senderId: bigint, clientMsgId: string): Promise<StoredMessage | undefined> {
  const [row] = await db
    .select({ mensaje: mensajes, cliente: mensajesCliente })
    .from(mensajesCliente)
    .innerJoin(mensajes, eq(mensajes.id, mensajesCliente.mensajeId))
    .where(and(eq(mensajesCliente.remitenteId, senderId), eq(mensajesCliente.clientMsgId, clientMsgId)));
  return row;
}

export interface NewMessage {
  values: typeof mensajes.$inferInsert;
  clientMsgId: string | undefined;
  clientTimestamp: string | undefined;
  origin: string;
}

const isIdempotencyConflict = (err: unknown) => sqlStateOf(err) === "23505";

/** A row of STORE below, as the drivers return it (ids and counters as text, for exact bigints). */
interface StoredRow {
  id: string;
  mensaje_uuid: string;
  sala_chat_id: string;
  remitente_id: string;
  tipo_mensaje: Mensaje["tipoMensaje"];
  contenido: string | null;
  url_archivo: string | null;
  metadatos: unknown;
  enviado_en: unknown;
  client_msg_id: string | null;
  client_timestamp: string | null;
  con_cliente: boolean;
  seq: string;
  anterior_en: unknown;
}

const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));

/** A freshly stored message, with its place in its room. */
export interface Stored {
  stored: StoredMessage;
  /** The message's room_seq: 1 for the room's first message, then one more each. */
  seq: bigint;
  /** When the room's previous message was stored; null when there is none. */
  previousSentAt: Date | null;
}

function fromRow(row: StoredRow): Stored {
  const mensaje: Mensaje = {
    id: BigInt(row.id),
    mensajeUuid: row.mensaje_uuid,
    salaChatId: BigInt(row.sala_chat_id),
    remitenteId: BigInt(row.remitente_id),
    tipoMensaje: row.tipo_mensaje,
    contenido: row.contenido,
    urlArchivo: row.url_archivo,
    metadatos: (typeof row.metadatos === "string" ? JSON.parse(row.metadatos) : row.metadatos) as Mensaje["metadatos"],
    enviadoEn: date(row.enviado_en),
    editadoEn: null,
    eliminadoEn: null,
  };
  const cliente: MensajeCliente | null = row.con_cliente
    ? { mensajeId: mensaje.id, remitenteId: mensaje.remitenteId, clientMsgId: row.client_msg_id, clientTimestamp: row.client_timestamp }
    : null;
  return { stored: { mensaje, cliente }, seq: BigInt(row.seq), previousSentAt: row.anterior_en === null ? null : date(row.anterior_en) };
}

const hasClientData = (input: NewMessage) => input.clientMsgId !== undefined || input.clientTimestamp !== undefined;

export type InsertOutcome = Stored | { duplicate: StoredMessage };

/**
 * Stores a batch of messages in ONE statement (one round trip, one commit), whatever its
 * size: the columns go as arrays, so the text never changes and is prepared once.
 * 1. `cuenta` locks the batch's rooms in `salas_secuencia`, in room order (two stores never
 *    wait on each other in a cycle), and advances each room's counter by its messages.
 * 2. The messages are numbered within their room and inserted in batch order. A message's
 *    row is produced only after its room is locked, so its id is drawn after the room's
 *    previous store committed: ids and room_seq follow the order of commits in every room,
 *    whichever replica stores.
 * 3. Client data (idempotency key, client timestamp), the hand-off record (the outbox:
 *    delivery must record the recipients, and the live event must go out) and the change
 *    feed's entry are written with the messages, in the same commit.
 * The kinds go as text[] and are cast in SQL: embedded PGlite cannot send an array of a
 * custom enum type.
 */
const STORE = `
with nuevos as (
  select * from unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
                       $8::text[], $9::text[], $10::boolean[], $11::text[])
    with ordinality as n(uuid, sala, remitente, tipo, contenido, url, metadatos, cmid, cts, con_cliente, origen, ord)
), cuenta as (
  insert into salas_secuencia as s (sala_chat_id, ultimo_seq)
  select sala, count(*) from nuevos group by sala order by sala
  on conflict (sala_chat_id) do update
    set ultimo_seq = s.ultimo_seq + excluded.ultimo_seq, anterior_en = s.ultimo_en, ultimo_en = now()
  returning sala_chat_id, ultimo_seq, anterior_en
), numerados as (
  select n.*, c.anterior_en,
         c.ultimo_seq - count(*) over (partition by n.sala) + row_number() over (partition by n.sala order by n.ord) as seq
  from nuevos n join cuenta c on c.sala_chat_id = n.sala
), m as (
  insert into mensajes (mensaje_uuid, sala_chat_id, remitente_id, tipo_mensaje, contenido, url_archivo, metadatos)
  select uuid, sala, remitente, tipo::tipo_mensaje_enum, contenido, url, metadatos from numerados order by ord
  returning id, mensaje_uuid, sala_chat_id, remitente_id, tipo_mensaje, contenido, url_archivo, metadatos, enviado_en
), c as (
  insert into mensajes_cliente (mensaje_id, remitente_id, client_msg_id, client_timestamp)
  select m.id, m.remitente_id, n.cmid, n.cts from m join numerados n on n.uuid = m.mensaje_uuid where n.con_cliente
), o as (
  insert into mensajes_despacho_pendiente (mensaje_id, origen, seq_sala, proximo_intento)
  select m.id, n.origen, n.seq, now() + $12::interval from m join numerados n on n.uuid = m.mensaje_uuid
), f as (
  insert into cambios_sala (sala_chat_id, mensaje_id, tipo) select sala_chat_id, id, 'mensaje' from m
)
select m.id::text as id, m.mensaje_uuid, m.sala_chat_id::text as sala_chat_id, m.remitente_id::text as remitente_id, m.tipo_mensaje,
       m.contenido, m.url_archivo, m.metadatos, m.enviado_en, n.cmid as client_msg_id, n.cts as client_timestamp, n.con_cliente,
       n.seq::text as seq, n.anterior_en
from m join numerados n on n.uuid = m.mensaje_uuid
order by n.ord`;

/** True for errors about the rows themselves (constraints, values), not the database's health. */
const isRowRefusal = (err: unknown) => {
  const state = sqlStateOf(err);
  return state !== undefined && (state.startsWith("23") || state.startsWith("22"));
};

/**
 * Stores the batch with STORE. The caller has `inlineLeaseMs` to hand the messages over
 * itself before the outbox worker may take them. When a row is refused — a retried
 * client_msg_id, or a row an existing upred_db rejects — nothing of the statement is kept
 * and each message is stored on its own, so every message gets its own outcome: stored,
 * duplicate (with the original), or the error it alone met. Errors that are not about a row
 * (the database is down) fail them all.
 */
export async function insertMessages(db: MessagesDb, inputs: NewMessage[], inlineLeaseMs: number): Promise<(InsertOutcome | Error)[]> {
  try {
    return await store(db, inputs, inlineLeaseMs);
  } catch (err) {
    if (!isRowRefusal(err)) throw err;
    if (inputs.length === 1) return [await refusedAlone(db, inputs[0]!, err)];
  }
  const outcomes: (InsertOutcome | Error)[] = [];
  for (const input of inputs) {
    try {
      outcomes.push(...(await store(db, [input], inlineLeaseMs)));
    } catch (err) {
      if (!isRowRefusal(err)) throw err;
      outcomes.push(await refusedAlone(db, input, err));
    }
  }
  return outcomes;
}

/** A message the database refused on its own: a retry of a stored client_msg_id (the original), or its error. */
async function refusedAlone(db: MessagesDb, input: NewMessage, err: unknown): Promise<InsertOutcome | Error> {
  if (input.clientMsgId !== undefined && isIdempotencyConflict(err)) {
    // The conflicting insert has committed (a unique check waits for it), so it is visible now.
    const original = await findByClientMsgId(db, input.values.remitenteId, input.clientMsgId);
    if (original) return { duplicate: original };
  }
  return err as Error;
}

async function store(db: MessagesDb, inputs: NewMessage[], inlineLeaseMs: number): Promise<Stored[]> {
  const column = <T>(pick: (input: NewMessage) => T) => inputs.map(pick);
  const rows = await preparedQuery<StoredRow>(db, "messages_store", STORE, [
    inputs.map(() => randomUUID()),
    column((i) => i.values.salaChatId),
    column((i) => i.values.remitenteId),
    column((i) => i.values.tipoMensaje ?? "texto"),
    column((i) => i.values.contenido ?? null),
    column((i) => i.values.urlArchivo ?? null),
    column((i) => JSON.stringify(i.values.metadatos ?? {})),
    column((i) => i.clientMsgId ?? null),
    column((i) => i.clientTimestamp ?? null),
    column(hasClientData),
    column((i) => i.origin),
    `${inlineLeaseMs} milliseconds`,
  ]);
  if (rows.length !== inputs.length) throw new Error(`the store returned ${rows.length} rows for ${inputs.length} messages`);
  return rows.map(fromRow);
}

export async function getMessages(db: MessagesDb, ids: bigint[]): Promise<StoredMessage[]> {
  if (ids.length === 0) return [];
  return withClient(db).where(inArray(mensajes.id, ids));
}

/** One page of a room's history, newest first, with one extra row to tell if more exist. */
export function listRoom(db: MessagesDb, roomId: bigint, beforeId: bigint | undefined, limit: number): Promise<StoredMessage[]> {
  return withClient(db)
    .where(and(eq(mensajes.salaChatId, roomId), beforeId ? lt(mensajes.id, beforeId) : undefined))
    .orderBy(desc(mensajes.id))
    .limit(limit + 1);
}

/**
 * Edits the sender's message unless it was deleted, and records the change in the feed, in
 * one statement. Undefined when nothing was edited (not the sender's, or deleted).
 */
export async function updateContent(db: MessagesDb, id: bigint, senderId: bigint, content: string): Promise<Date | undefined> {
  const [row] = await preparedQuery<{ en: unknown }>(
    db,
    "messages_edit",
    `with u as (
       update mensajes set contenido = $3, editado_en = now()
       where id = $1 and remitente_id = $2 and eliminado_en is null
       returning id, sala_chat_id, editado_en
     ), f as (
       insert into cambios_sala (sala_chat_id, mensaje_id, tipo) select sala_chat_id, id, 'edicion' from u
     )
     select editado_en as en from u`,
    [id, senderId, content],
  );
  return row ? date(row.en) : undefined;
}

/**
 * Deletes the sender's message softly and records the change in the feed, in one statement.
 * Answers whether this call deleted it (a second delete changes nothing); undefined when the
 * message is not the sender's.
 */
export async function markDeleted(db: MessagesDb, id: bigint, senderId: bigint): Promise<boolean | undefined> {
  const [row] = await preparedQuery<{ ahora: boolean }>(
    db,
    "messages_delete",
    `with antes as (
       select id, eliminado_en is null as vivo from mensajes where id = $1 and remitente_id = $2
     ), u as (
       update mensajes m set eliminado_en = now() from antes where m.id = antes.id and antes.vivo
       returning m.id, m.sala_chat_id
     ), f as (
       insert into cambios_sala (sala_chat_id, mensaje_id, tipo) select sala_chat_id, id, 'eliminacion' from u
     )
     select exists (select 1 from u) as ahora from antes`,
    [id, senderId],
  );
  return row?.ahora;
}

/** Takes up to `limit` due outbox entries and leases them for `leaseMs`, so replicas share the work. */
export async function claimDueDispatches(db: MessagesDb, limit: number, leaseMs: number) {
  return transaction(db, async (tx) => {
    const due = await tx
      .select()
      .from(mensajesDespachoPendiente)
      .where(lte(mensajesDespachoPendiente.proximoIntento, sql`now()`))
      .orderBy(asc(mensajesDespachoPendiente.mensajeId))
      .limit(limit)
      .for("update", { skipLocked: true });
    if (due.length === 0) return due;
    await tx
      .update(mensajesDespachoPendiente)
      .set({
        intentos: sql`${mensajesDespachoPendiente.intentos} + 1`,
        proximoIntento: sql`now() + ${`${leaseMs} milliseconds`}::interval`,
      })
      .where(inArray(mensajesDespachoPendiente.mensajeId, due.map((d) => d.mensajeId)));
    return due;
  });
}

export async function retryDispatchLater(db: MessagesDb, ids: bigint[], delayMs: number): Promise<void> {
  if (ids.length === 0) return;
  await preparedQuery(db, "messages_retry_later", "update mensajes_despacho_pendiente set proximo_intento = now() + $2::interval where mensaje_id = any($1::bigint[])", [
    ids,
    `${delayMs} milliseconds`,
  ]);
}

/** Removes handed-off outbox entries in one statement (ids as one array parameter, however many). */
export async function completeDispatches(db: MessagesDb, ids: bigint[]): Promise<void> {
  if (ids.length > 0) await preparedQuery(db, "messages_complete", "delete from mensajes_despacho_pendiente where mensaje_id = any($1::bigint[])", [ids]);
}

/**
 * The outbox's size, for metrics (read on each scrape): entries not handed off yet, counted up
 * to `cap` so a huge backlog never makes a slow scan, and those the sweep has taken over.
 */
export async function outboxBacklog(db: MessagesDb, cap = 100_000): Promise<{ pending: number; retrying: number }> {
  const [row] = await preparedQuery<{ pending: number; retrying: number }>(
    db,
    "messages_outbox_backlog",
    "select count(*)::int as pending, (count(*) filter (where intentos > 0))::int as retrying from (select intentos from mensajes_despacho_pendiente limit $1) t",
    [cap],
  );
  return { pending: Number(row?.pending ?? 0), retrying: Number(row?.retrying ?? 0) };
}
