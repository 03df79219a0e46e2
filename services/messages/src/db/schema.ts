import { sql } from "drizzle-orm";
import type { JsonObject } from "@bufbuild/protobuf";
import type { MessageKind } from "@redup/kit";
import { bigint, bigserial, customType, index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

/** PostgreSQL's 64-bit transaction id, read and written as text (it has no JavaScript type). */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => "xid8" });

/** The guide's enum of content kinds; the kit's MessageKind must name the same (checked below). */
export const tipoMensaje = pgEnum("tipo_mensaje_enum", ["texto", "imagen", "archivo", "audio", "sistema"]);

/** The guide's `mensajes`, as is. */
export const mensajes = pgTable(
  "mensajes",
  {
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    mensajeUuid: uuid("mensaje_uuid").notNull().unique().defaultRandom(),
    salaChatId: bigint("sala_chat_id", { mode: "bigint" }).notNull(),
    remitenteId: bigint("remitente_id", { mode: "bigint" }).notNull(),
    tipoMensaje: tipoMensaje("tipo_mensaje").notNull().default("texto"),
    contenido: text("contenido"),
    urlArchivo: text("url_archivo"),
    metadatos: jsonb("metadatos").$type<JsonObject>().notNull().default(sql`'{}'::jsonb`),
    enviadoEn: timestamp("enviado_en", { withTimezone: true }).notNull().defaultNow(),
    editadoEn: timestamp("editado_en", { withTimezone: true }),
    eliminadoEn: timestamp("eliminado_en", { withTimezone: true }),
  },
  (t) => [index("mensajes_sala_id_idx").on(t.salaChatId, t.id)],
);

/**
 * What the sender's client attached to a message: its idempotency key and its timestamp.
 * Kept beside `mensajes` so the guide's table stays exactly as the guide defines it.
 */
export const mensajesCliente = pgTable(
  "mensajes_cliente",
  {
    mensajeId: bigint("mensaje_id", { mode: "bigint" }).primaryKey(),
    remitenteId: bigint("remitente_id", { mode: "bigint" }).notNull(),
    clientMsgId: text("client_msg_id"),
    clientTimestamp: text("client_timestamp"),
  },
  (t) => [
    uniqueIndex("mensajes_cliente_idempotencia_idx")
      .on(t.remitenteId, t.clientMsgId)
      .where(sql`${t.clientMsgId} is not null`),
  ],
);

/**
 * The outbox: stored messages not yet handed to delivery. Written in the same transaction
 * as the message, removed once delivery confirms, so no stored message is left undelivered.
 */
export const mensajesDespachoPendiente = pgTable(
  "mensajes_despacho_pendiente",
  {
    mensajeId: bigint("mensaje_id", { mode: "bigint" }).primaryKey(),
    origen: text("origen").notNull().default(""),
    /** The message's room_seq, for its live event when a retry publishes it. */
    seqSala: bigint("seq_sala", { mode: "bigint" }),
    intentos: integer("intentos").notNull().default(0),
    proximoIntento: timestamp("proximo_intento", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("mensajes_despacho_pendiente_proximo_idx").on(t.proximoIntento)],
);

/**
 * Each room's message counter: how many messages the room has had since this table exists,
 * and when its latest ones were stored. Every store locks its rooms' rows (in room order,
 * so stores never deadlock) while it numbers and inserts their messages; that makes a
 * room's ids and room_seq numbers follow the order of commits, whichever replica stores.
 */
export const salasSecuencia = pgTable("salas_secuencia", {
  salaChatId: bigint("sala_chat_id", { mode: "bigint" }).primaryKey(),
  /** The room_seq of the room's latest message. */
  ultimoSeq: bigint("ultimo_seq", { mode: "bigint" }).notNull(),
  /** When the latest store into the room committed its messages. */
  ultimoEn: timestamp("ultimo_en", { withTimezone: true }).notNull().defaultNow(),
  /** When the store before that one did (unset for a room's first store). */
  anteriorEn: timestamp("anterior_en", { withTimezone: true }),
});

/**
 * The change feed of every room: one row per stored, edited or deleted message, written in
 * the same statement as the change. `xid` is the writing transaction's id: a reader goes only
 * up to the oldest transaction still running (pg_snapshot_xmin), so a change that commits
 * later never lands behind a position already read. Rows older than the retention are pruned.
 */
export const cambiosSala = pgTable(
  "cambios_sala",
  {
    pos: bigserial("pos", { mode: "bigint" }).primaryKey(),
    xid: xid8("xid").notNull().default(sql`pg_current_xact_id()`),
    salaChatId: bigint("sala_chat_id", { mode: "bigint" }).notNull(),
    mensajeId: bigint("mensaje_id", { mode: "bigint" }).notNull(),
    /** `mensaje`, `edicion` or `eliminacion`. */
    tipo: text("tipo").notNull(),
    en: timestamp("en", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("cambios_sala_sala_idx").on(t.salaChatId, t.xid, t.pos), index("cambios_sala_en_idx").on(t.en)],
);

/** How far the change feed was pruned: a position at or before it may have lost changes. */
export const cambiosPoda = pgTable("cambios_poda", {
  id: integer("id").primaryKey(),
  xid: xid8("xid").notNull(),
  pos: bigint("pos", { mode: "bigint" }).notNull(),
});

export type Mensaje = typeof mensajes.$inferSelect;
export type MensajeCliente = typeof mensajesCliente.$inferSelect;
export type TipoMensaje = (typeof tipoMensaje.enumValues)[number];
// The database's kinds and the proto's (through the kit) must be the same set: this line
// stops compiling when one of them gains or loses a kind.
export const KINDS_MATCH: [TipoMensaje] extends [MessageKind] ? ([MessageKind] extends [TipoMensaje] ? true : never) : never = true;
