import { randomUUID } from "node:crypto";
import { sqlStateOf, transaction, type Db } from "@redup/kit";
import { and, asc, desc, eq, inArray, isNull, lt, lte, sql } from "drizzle-orm";
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
  /** How long the sender has to dispatch inline before the outbox worker may take over. */
  inlineLeaseMs: number;
}

const isIdempotencyConflict = (err: unknown) => sqlStateOf(err) === "23505";

/** A row of the insert statement below, as the driver returns it (snake_case). */
interface InsertedRow {
  id: unknown;
  mensaje_uuid: string;
  sala_chat_id: unknown;
  remitente_id: unknown;
  tipo_mensaje: Mensaje["tipoMensaje"];
  contenido: string | null;
  url_archivo: string | null;
  metadatos: unknown;
  enviado_en: unknown;
  client_msg_id: string | null;
  client_timestamp: string | null;
}

const big = (v: unknown) => BigInt(String(v));
const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));

/** A stored row as the insert statements below return it. */
function fromInserted(row: InsertedRow, withClient: boolean): StoredMessage {
  const mensaje: Mensaje = {
    id: big(row.id),
    mensajeUuid: row.mensaje_uuid,
    salaChatId: big(row.sala_chat_id),
    remitenteId: big(row.remitente_id),
    tipoMensaje: row.tipo_mensaje,
    contenido: row.contenido,
    urlArchivo: row.url_archivo,
    metadatos: (typeof row.metadatos === "string" ? JSON.parse(row.metadatos) : row.metadatos) as Mensaje["metadatos"],
    enviadoEn: date(row.enviado_en),
    editadoEn: null,
    eliminadoEn: null,
  };
  const cliente: MensajeCliente | null = withClient
    ? { mensajeId: mensaje.id, remitenteId: mensaje.remitenteId, clientMsgId: row.client_msg_id, clientTimestamp: row.client_timestamp }
    : null;
  return { mensaje, cliente };
}

const hasClientData = (input: NewMessage) => input.clientMsgId !== undefined || input.clientTimestamp !== undefined;

export type InsertOutcome = { stored: StoredMessage } | { duplicate: StoredMessage };

/**
 * Stores the message, its client data and its outbox entry in ONE statement (data-modifying
 * CTEs), so the hot path pays one round trip and one commit. With a client_msg_id, a retry
 * violates the idempotency index — concurrently, it waits until the first commits — and the
 * whole statement writes nothing; the result is then `{ duplicate }` with the original.
 */
export async function insertMessage(db: MessagesDb, input: NewMessage): Promise<InsertOutcome> {
  const v = input.values;
  const withClient = hasClientData(input);
  try {
    const result = await db.execute<InsertedRow & Record<string, unknown>>(sql`
      with m as (
        insert into ${mensajes} (sala_chat_id, remitente_id, tipo_mensaje, contenido, url_archivo, metadatos)
        values (${v.salaChatId}, ${v.remitenteId}, ${v.tipoMensaje ?? "texto"}::tipo_mensaje_enum, ${v.contenido ?? null}, ${v.urlArchivo ?? null}, ${JSON.stringify(v.metadatos ?? {})}::jsonb)
        returning *
      ), c as (
        insert into ${mensajesCliente} (mensaje_id, remitente_id, client_msg_id, client_timestamp)
        select id, remitente_id, ${input.clientMsgId ?? null}::text, ${input.clientTimestamp ?? null}::text from m where ${withClient}::boolean
        returning client_msg_id, client_timestamp
      ), o as (
        insert into ${mensajesDespachoPendiente} (mensaje_id, origen, proximo_intento)
        select id, ${input.origin}, now() + ${`${input.inlineLeaseMs} milliseconds`}::interval from m
      )
      select m.*, c.client_msg_id, c.client_timestamp from m left join c on true`);
    return { stored: fromInserted((result as unknown as { rows: InsertedRow[] }).rows[0]!, withClient) };
  } catch (err) {
    if (input.clientMsgId === undefined || !isIdempotencyConflict(err)) throw err;
    const original = await findByClientMsgId(db, v.remitenteId, input.clientMsgId);
    if (!original) throw err;
    return { duplicate: original };
  }
}

/** True for errors about the rows themselves (constraints, values), not the database's health. */
const isRowRefusal = (err: unknown) => {
  const state = sqlStateOf(err);
  return state !== undefined && (state.startsWith("23") || state.startsWith("22"));
};

/**
 * Stores many messages in ONE statement: one round trip and one commit for the whole batch,
 * ids assigned in input order. When a row is refused — a retried client_msg_id, or a row an
 * existing upred_db rejects — nothing of the statement is kept and each message is stored on
 * its own (insertMessage), so every message gets its own outcome: stored, duplicate, or the
 * error it alone met. Errors that are not about a row (the database is down) fail them all.
 */
export async function insertMessages(db: MessagesDb, inputs: NewMessage[]): Promise<(InsertOutcome | Error)[]> {
  if (inputs.length > 1) {
    const stored = await insertAll(db, inputs);
    if (stored) return stored;
  }
  const outcomes: (InsertOutcome | Error)[] = [];
  for (const input of inputs) {
    try {
      outcomes.push(await insertMessage(db, input));
    } catch (err) {
      if (!isRowRefusal(err)) throw err;
      outcomes.push(err as Error);
    }
  }
  return outcomes;
}

/** The one-statement insert of insertMessages; undefined when a row was refused. */
async function insertAll(db: MessagesDb, inputs: NewMessage[]): Promise<(InsertOutcome | Error)[] | undefined> {
  const uuids = inputs.map(() => randomUUID());
  const rows = inputs.map((input, i) => {
    const v = input.values;
    return sql`(${i}::int, ${uuids[i]}::uuid, ${v.salaChatId}::bigint, ${v.remitenteId}::bigint, ${v.tipoMensaje ?? "texto"}::tipo_mensaje_enum,
      ${v.contenido ?? null}::text, ${v.urlArchivo ?? null}::text, ${JSON.stringify(v.metadatos ?? {})}::jsonb,
      ${input.clientMsgId ?? null}::text, ${input.clientTimestamp ?? null}::text, ${hasClientData(input)}::boolean,
      ${input.origin}::text, ${`${input.inlineLeaseMs} milliseconds`}::interval)`;
  });
  try {
    const result = await db.execute<InsertedRow & Record<string, unknown>>(sql`
      with nuevos (ord, uuid, sala, remitente, tipo, contenido, url, metadatos, cmid, cts, con_cliente, origen, plazo) as (
        values ${sql.join(rows, sql`, `)}
      ), m as (
        insert into ${mensajes} (mensaje_uuid, sala_chat_id, remitente_id, tipo_mensaje, contenido, url_archivo, metadatos)
        select uuid, sala, remitente, tipo, contenido, url, metadatos from nuevos order by ord
        returning *
      ), c as (
        insert into ${mensajesCliente} (mensaje_id, remitente_id, client_msg_id, client_timestamp)
        select m.id, m.remitente_id, n.cmid, n.cts from m join nuevos n on n.uuid = m.mensaje_uuid where n.con_cliente
        returning mensaje_id, client_msg_id, client_timestamp
      ), o as (
        insert into ${mensajesDespachoPendiente} (mensaje_id, origen, proximo_intento)
        select m.id, n.origen, now() + n.plazo from m join nuevos n on n.uuid = m.mensaje_uuid
      )
      select m.*, c.client_msg_id, c.client_timestamp from m left join c on c.mensaje_id = m.id`);
    const byUuid = new Map((result as unknown as { rows: InsertedRow[] }).rows.map((row) => [String(row.mensaje_uuid), row]));
    return inputs.map((input, i) => {
      const row = byUuid.get(uuids[i]!);
      return row ? { stored: fromInserted(row, hasClientData(input)) } : new Error("the batch insert did not return a stored row");
    });
  } catch (err) {
    if (!isRowRefusal(err)) throw err;
    return undefined;
  }
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

export async function updateContent(db: MessagesDb, id: bigint, senderId: bigint, content: string): Promise<boolean> {
  const rows = await db
    .update(mensajes)
    .set({ contenido: content, editadoEn: sql`now()` })
    .where(and(eq(mensajes.id, id), eq(mensajes.remitenteId, senderId), isNull(mensajes.eliminadoEn)))
    .returning({ id: mensajes.id });
  return rows.length > 0;
}

export async function markDeleted(db: MessagesDb, id: bigint, senderId: bigint): Promise<boolean> {
  const rows = await db
    .update(mensajes)
    .set({ eliminadoEn: sql`coalesce(${mensajes.eliminadoEn}, now())` })
    .where(and(eq(mensajes.id, id), eq(mensajes.remitenteId, senderId)))
    .returning({ id: mensajes.id });
  return rows.length > 0;
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

export async function completeDispatch(db: MessagesDb, id: bigint): Promise<void> {
  await db.delete(mensajesDespachoPendiente).where(eq(mensajesDespachoPendiente.mensajeId, id));
}

export async function retryDispatchLater(db: MessagesDb, ids: bigint | bigint[], delayMs: number): Promise<void> {
  const list = Array.isArray(ids) ? ids : [ids];
  if (list.length === 0) return;
  await db
    .update(mensajesDespachoPendiente)
    .set({ proximoIntento: sql`now() + ${`${delayMs} milliseconds`}::interval` })
    .where(inArray(mensajesDespachoPendiente.mensajeId, list));
}

/** Outbox entries of a room older than a message, oldest first, with their messages. */
export function pendingInRoomBefore(db: MessagesDb, roomId: bigint, beforeId: bigint) {
  return db
    .select({ entry: mensajesDespachoPendiente, mensaje: mensajes, cliente: mensajesCliente })
    .from(mensajesDespachoPendiente)
    .innerJoin(mensajes, eq(mensajes.id, mensajesDespachoPendiente.mensajeId))
    .leftJoin(mensajesCliente, eq(mensajesCliente.mensajeId, mensajes.id))
    .where(and(eq(mensajes.salaChatId, roomId), lt(mensajesDespachoPendiente.mensajeId, beforeId)))
    .orderBy(asc(mensajesDespachoPendiente.mensajeId));
}

/** Removes handed-over outbox entries in one statement. */
export async function completeDispatches(db: MessagesDb, ids: bigint[]): Promise<void> {
  if (ids.length > 0) await db.delete(mensajesDespachoPendiente).where(inArray(mensajesDespachoPendiente.mensajeId, ids));
}

/** The rooms that have messages waiting in the outbox (at start, to keep their order). */
export async function roomsWithBacklog(db: MessagesDb): Promise<bigint[]> {
  const rows = await db
    .selectDistinct({ room: mensajes.salaChatId })
    .from(mensajesDespachoPendiente)
    .innerJoin(mensajes, eq(mensajes.id, mensajesDespachoPendiente.mensajeId));
  return rows.map((r) => r.room);
}

/** Which of these outbox entries are still waiting (another path may have sent them). */
export async function stillPending(db: MessagesDb, ids: bigint[]): Promise<Set<bigint>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .select({ id: mensajesDespachoPendiente.mensajeId })
    .from(mensajesDespachoPendiente)
    .where(inArray(mensajesDespachoPendiente.mensajeId, ids));
  return new Set(rows.map((r) => r.id));
}
