import { preparedQuery, sqlStateOf, transaction, type Db } from "@redup/kit";
import { and, asc, eq, gt, isNull, sql } from "drizzle-orm";
import * as schema from "./schema.js";
import { despachosMensaje, destinatariosMensaje, type Despacho, type Destinatario } from "./schema.js";

export type DeliveryDb = Db<typeof schema>;

/** Rows per INSERT statement when recording a large group's recipients. */
const INSERT_CHUNK = 1000;

const isForeignKeyViolation = (err: unknown) => sqlStateOf(err) === "23503";

/**
 * Records the dispatch and one row per recipient; repeating it adds nothing. On an existing
 * upred_db, `destinatarios_mensaje` references `usuarios`: a recipient unknown there is
 * skipped (and returned) instead of failing the whole message for everyone else.
 */
export async function recordDispatch(
  db: DeliveryDb,
  dispatch: { mensajeId: bigint; remitenteId: bigint; salaChatId: bigint },
  recipientIds: bigint[],
): Promise<{ skipped: bigint[] }> {
  // The common case in one statement (one round trip, one commit); a foreign-key refusal
  // (an existing upred_db's usuarios) falls back to the row-by-row path below.
  if (recipientIds.length <= INSERT_CHUNK) {
    try {
      await db.execute(sql`
        with d as (
          insert into ${despachosMensaje} (mensaje_id, remitente_id, sala_chat_id)
          values (${dispatch.mensajeId}, ${dispatch.remitenteId}, ${dispatch.salaChatId})
          on conflict do nothing
        )
        insert into ${destinatariosMensaje} (mensaje_id, destinatario_id, sala_chat_id)
        select ${dispatch.mensajeId}::bigint, unnest(${`{${recipientIds.join(",")}}`}::bigint[]), ${dispatch.salaChatId}::bigint
        on conflict do nothing`);
      return { skipped: [] };
    } catch (err) {
      if (!isForeignKeyViolation(err)) throw err;
    }
  }
  return transaction(db, async (tx) => {
    await tx.insert(despachosMensaje).values(dispatch).onConflictDoNothing();
    const skipped: bigint[] = [];
    const insert = (ids: bigint[]) =>
      tx
        .insert(destinatariosMensaje)
        .values(ids.map((destinatarioId) => ({ mensajeId: dispatch.mensajeId, destinatarioId, salaChatId: dispatch.salaChatId })))
        .onConflictDoNothing();
    for (let i = 0; i < recipientIds.length; i += INSERT_CHUNK) {
      const chunk = recipientIds.slice(i, i + INSERT_CHUNK);
      try {
        await tx.transaction(() => insert(chunk));
      } catch (err) {
        if (!isForeignKeyViolation(err)) throw err;
        // Row by row, each in its own savepoint, to keep every recipient the database accepts.
        for (const id of chunk) {
          try {
            await tx.transaction(() => insert([id]));
          } catch (rowErr) {
            if (!isForeignKeyViolation(rowErr)) throw rowErr;
            skipped.push(id);
          }
        }
      }
    }
    return { skipped };
  });
}

export interface DispatchRecord {
  dispatch: { mensajeId: bigint; remitenteId: bigint; salaChatId: bigint };
  recipientIds: bigint[];
}

/** Rows per statement when recording many dispatches at once. */
const MANY_ROWS_MAX = 20_000;

/** RECORD_MANY's text never changes (columns go as arrays), so it is prepared once per connection. */
const RECORD_MANY = `
with d as (
  insert into despachos_mensaje (mensaje_id, remitente_id, sala_chat_id)
  select * from unnest($1::bigint[], $2::bigint[], $3::bigint[])
  on conflict do nothing
)
insert into destinatarios_mensaje (mensaje_id, destinatario_id, sala_chat_id)
select * from unnest($4::bigint[], $5::bigint[], $6::bigint[])
on conflict do nothing`;

/**
 * Records many dispatches in ONE statement (one round trip, one commit), as recordDispatch
 * would one by one. When the database refuses a row (a recipient unknown to an existing
 * upred_db), or the batch is very large, each dispatch is recorded on its own instead, so
 * the refusal stays with its recipient.
 */
export async function recordDispatches(db: DeliveryDb, records: DispatchRecord[]): Promise<{ skipped: bigint[] }[]> {
  const rows = records.reduce((n, r) => n + r.recipientIds.length, 0);
  if (records.length > 0 && rows <= MANY_ROWS_MAX) {
    const recipientMessage: bigint[] = [];
    const recipient: bigint[] = [];
    const recipientRoom: bigint[] = [];
    for (const r of records) {
      for (const id of r.recipientIds) {
        recipientMessage.push(r.dispatch.mensajeId);
        recipient.push(id);
        recipientRoom.push(r.dispatch.salaChatId);
      }
    }
    try {
      await preparedQuery(db, "delivery_record_many", RECORD_MANY, [
        records.map((r) => r.dispatch.mensajeId),
        records.map((r) => r.dispatch.remitenteId),
        records.map((r) => r.dispatch.salaChatId),
        recipientMessage,
        recipient,
        recipientRoom,
      ]);
      return records.map(() => ({ skipped: [] }));
    } catch (err) {
      if (!isForeignKeyViolation(err)) throw err;
    }
  }
  const results: { skipped: bigint[] }[] = [];
  for (const r of records) results.push(await recordDispatch(db, r.dispatch, r.recipientIds));
  return results;
}

export async function getDispatch(db: DeliveryDb, mensajeId: bigint): Promise<Despacho | undefined> {
  const [row] = await db.select().from(despachosMensaje).where(eq(despachosMensaje.mensajeId, mensajeId));
  return row;
}

export async function getRecipient(db: DeliveryDb, mensajeId: bigint, userId: bigint): Promise<Destinatario | undefined> {
  const [row] = await db
    .select()
    .from(destinatariosMensaje)
    .where(and(eq(destinatariosMensaje.mensajeId, mensajeId), eq(destinatariosMensaje.destinatarioId, userId)));
  return row;
}

/** A recipient row as raw statements return it. */
interface RecipientRow {
  mensaje_id: string;
  destinatario_id: string;
  entregado_en: unknown;
  leido_en: unknown;
  creado_en: unknown;
  sala_chat_id: string | null;
}

const dateOrNull = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));

const toDestinatario = (r: RecipientRow): Destinatario => ({
  mensajeId: BigInt(r.mensaje_id),
  destinatarioId: BigInt(r.destinatario_id),
  entregadoEn: dateOrNull(r.entregado_en),
  leidoEn: dateOrNull(r.leido_en),
  creadoEn: dateOrNull(r.creado_en)!,
  salaChatId: r.sala_chat_id === null ? null : BigInt(r.sala_chat_id),
});

/**
 * Sets entregado_en if unset, and records the sender's receipt in the feed, in one statement;
 * returns the row only when this call set it (first wins).
 */
const SET_DELIVERED = `
with u as (
  update destinatarios_mensaje set entregado_en = now()
  where mensaje_id = $1 and destinatario_id = $2 and entregado_en is null
  returning *
), f as (
  insert into cambios_recibo (remitente_id, mensaje_id, destinatario_id, sala_chat_id, leido, en)
  select d.remitente_id, u.mensaje_id, u.destinatario_id, u.sala_chat_id, false, u.entregado_en from u join despachos_mensaje d on d.mensaje_id = u.mensaje_id
)
select mensaje_id::text, destinatario_id::text, entregado_en, leido_en, creado_en, sala_chat_id::text from u`;

export async function setDelivered(db: DeliveryDb, mensajeId: bigint, userId: bigint): Promise<Destinatario | undefined> {
  const [row] = await preparedQuery<RecipientRow>(db, "delivery_set_delivered", SET_DELIVERED, [mensajeId, userId]);
  return row && toDestinatario(row);
}

/**
 * Sets leido_en (and entregado_en when unset), and records the sender's receipt in the feed,
 * in one statement; returns the row only when this call set leido_en.
 */
const SET_READ = `
with u as (
  update destinatarios_mensaje set leido_en = now(), entregado_en = coalesce(entregado_en, now())
  where mensaje_id = $1 and destinatario_id = $2 and leido_en is null
  returning *
), f as (
  insert into cambios_recibo (remitente_id, mensaje_id, destinatario_id, sala_chat_id, leido, en)
  select d.remitente_id, u.mensaje_id, u.destinatario_id, u.sala_chat_id, true, u.leido_en from u join despachos_mensaje d on d.mensaje_id = u.mensaje_id
)
select mensaje_id::text, destinatario_id::text, entregado_en, leido_en, creado_en, sala_chat_id::text from u`;

export async function setRead(db: DeliveryDb, mensajeId: bigint, userId: bigint): Promise<Destinatario | undefined> {
  const [row] = await preparedQuery<RecipientRow>(db, "delivery_set_read", SET_READ, [mensajeId, userId]);
  return row && toDestinatario(row);
}

/** A user's undelivered messages after an id, oldest first, with one extra row. */
export function listPending(db: DeliveryDb, userId: bigint, afterId: bigint | undefined, limit: number) {
  return db
    .select({ mensajeId: destinatariosMensaje.mensajeId, creadoEn: destinatariosMensaje.creadoEn })
    .from(destinatariosMensaje)
    .where(
      and(
        eq(destinatariosMensaje.destinatarioId, userId),
        isNull(destinatariosMensaje.entregadoEn),
        afterId ? gt(destinatariosMensaje.mensajeId, afterId) : undefined,
      ),
    )
    .orderBy(asc(destinatariosMensaje.mensajeId))
    .limit(limit + 1);
}

export function listReceipts(db: DeliveryDb, mensajeId: bigint): Promise<Destinatario[]> {
  return db
    .select()
    .from(destinatariosMensaje)
    .where(eq(destinatariosMensaje.mensajeId, mensajeId))
    .orderBy(asc(destinatariosMensaje.destinatarioId));
}
