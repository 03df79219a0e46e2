import { transaction, type Db } from "@redup/kit";
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

/** Raised inside the insert transaction when a concurrent retry already stored the key. */
class DuplicateKey extends Error {}

export interface NewMessage {
  values: typeof mensajes.$inferInsert;
  clientMsgId: string | undefined;
  clientTimestamp: string | undefined;
  origin: string;
  /** How long the sender has to dispatch inline before the outbox worker may take over. */
  inlineLeaseMs: number;
}

/**
 * Stores the message, its client data and its outbox entry in one transaction. With a
 * client_msg_id, a concurrent retry waits on the unique index until the first commits,
 * then finds its row: the result is `{ duplicate }` and nothing of the retry is kept.
 */
export async function insertMessage(
  db: MessagesDb,
  input: NewMessage,
): Promise<{ stored: StoredMessage } | { duplicate: StoredMessage }> {
  try {
    const stored = await transaction(db, async (tx) => {
      const [mensaje] = await tx.insert(mensajes).values(input.values).returning();
      let cliente: MensajeCliente | null = null;
      if (input.clientMsgId !== undefined || input.clientTimestamp !== undefined) {
        const [row] = await tx
          .insert(mensajesCliente)
          .values({
            mensajeId: mensaje!.id,
            remitenteId: mensaje!.remitenteId,
            clientMsgId: input.clientMsgId ?? null,
            clientTimestamp: input.clientTimestamp ?? null,
          })
          .onConflictDoNothing()
          .returning();
        if (!row) throw new DuplicateKey();
        cliente = row;
      }
      await tx.insert(mensajesDespachoPendiente).values({
        mensajeId: mensaje!.id,
        origen: input.origin,
        proximoIntento: sql`now() + ${`${input.inlineLeaseMs} milliseconds`}::interval`,
      });
      return { mensaje: mensaje!, cliente };
    });
    return { stored };
  } catch (err) {
    if (!(err instanceof DuplicateKey) || input.clientMsgId === undefined) throw err;
    const original = await findByClientMsgId(db, input.values.remitenteId, input.clientMsgId);
    if (!original) throw err;
    return { duplicate: original };
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

export async function retryDispatchLater(db: MessagesDb, id: bigint, delayMs: number): Promise<void> {
  await db
    .update(mensajesDespachoPendiente)
    .set({ proximoIntento: sql`now() + ${`${delayMs} milliseconds`}::interval` })
    .where(eq(mensajesDespachoPendiente.mensajeId, id));
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

/** Which of these outbox entries are still waiting (another path may have sent them). */
export async function stillPending(db: MessagesDb, ids: bigint[]): Promise<Set<bigint>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .select({ id: mensajesDespachoPendiente.mensajeId })
    .from(mensajesDespachoPendiente)
    .where(inArray(mensajesDespachoPendiente.mensajeId, ids));
  return new Set(rows.map((r) => r.id));
}
