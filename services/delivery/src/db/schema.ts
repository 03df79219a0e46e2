import { sql } from "drizzle-orm";
import { bigint, bigserial, boolean, customType, index, integer, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/** PostgreSQL's 64-bit transaction id, read and written as text (it has no JavaScript type). */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => "xid8" });

/** The guide's `destinatarios_mensaje`: one row per recipient of a message. */
export const destinatariosMensaje = pgTable(
  "destinatarios_mensaje",
  {
    mensajeId: bigint("mensaje_id", { mode: "bigint" }).notNull(),
    destinatarioId: bigint("destinatario_id", { mode: "bigint" }).notNull(),
    entregadoEn: timestamp("entregado_en", { withTimezone: true }),
    leidoEn: timestamp("leido_en", { withTimezone: true }),
    creadoEn: timestamp("creado_en", { withTimezone: true }).notNull().defaultNow(),
    /**
     * The message's room, beside the guide's columns (nullable so a guide database gains it
     * without a rewrite; every row this service writes has it): unread counts per room read
     * the index below alone.
     */
    salaChatId: bigint("sala_chat_id", { mode: "bigint" }),
  },
  (t) => [
    primaryKey({ columns: [t.mensajeId, t.destinatarioId] }),
    index("destinatarios_mensaje_pendientes_idx").on(t.destinatarioId, t.mensajeId).where(sql`${t.entregadoEn} is null`),
    // A user's unread messages by room: unread counts and "read up to" marking.
    index("destinatarios_mensaje_no_leidos_idx").on(t.destinatarioId, t.salaChatId, t.mensajeId).where(sql`${t.leidoEn} is null`),
  ],
);

/** Who sent each dispatched message, so receipts can reach the sender without asking messages. */
export const despachosMensaje = pgTable("despachos_mensaje", {
  mensajeId: bigint("mensaje_id", { mode: "bigint" }).primaryKey(),
  remitenteId: bigint("remitente_id", { mode: "bigint" }).notNull(),
  salaChatId: bigint("sala_chat_id", { mode: "bigint" }).notNull(),
  creadoEn: timestamp("creado_en", { withTimezone: true }).notNull().defaultNow(),
});

/** A user's read marker per room: the newest message they marked read (it never moves back). */
export const marcadoresLectura = pgTable(
  "marcadores_lectura",
  {
    usuarioId: bigint("usuario_id", { mode: "bigint" }).notNull(),
    salaChatId: bigint("sala_chat_id", { mode: "bigint" }).notNull(),
    mensajeId: bigint("mensaje_id", { mode: "bigint" }).notNull(),
    actualizadoEn: timestamp("actualizado_en", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.usuarioId, t.salaChatId] })],
);

/** Which edges hold sockets of which users (a user is online while a live edge holds them). */
export const presencia = pgTable(
  "presencia",
  {
    usuarioId: bigint("usuario_id", { mode: "bigint" }).notNull(),
    edgeId: text("edge_id").notNull(),
    desde: timestamp("desde", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.usuarioId, t.edgeId] }), index("presencia_edge_idx").on(t.edgeId)],
);

/** The edges that said they are alive, and when last. */
export const edgesVivos = pgTable("edges_vivos", {
  edgeId: text("edge_id").primaryKey(),
  vistoEn: timestamp("visto_en", { withTimezone: true }).notNull().defaultNow(),
});

/** When each user was last online (kept across restarts). */
export const ultimaConexion = pgTable("ultima_conexion", {
  usuarioId: bigint("usuario_id", { mode: "bigint" }).primaryKey(),
  vistoEn: timestamp("visto_en", { withTimezone: true }).notNull(),
});

/**
 * The receipts part of the change feed: one row per receipt a sender gets, written in the
 * same statement as the receipt (see the messages service's cambios_sala for how `xid`
 * keeps readers from skipping a late commit). Pruned past the retention.
 */
export const cambiosRecibo = pgTable(
  "cambios_recibo",
  {
    pos: bigserial("pos", { mode: "bigint" }).primaryKey(),
    xid: xid8("xid").notNull().default(sql`pg_current_xact_id()`),
    remitenteId: bigint("remitente_id", { mode: "bigint" }).notNull(),
    mensajeId: bigint("mensaje_id", { mode: "bigint" }).notNull(),
    destinatarioId: bigint("destinatario_id", { mode: "bigint" }).notNull(),
    salaChatId: bigint("sala_chat_id", { mode: "bigint" }),
    leido: boolean("leido").notNull(),
    en: timestamp("en", { withTimezone: true }).notNull(),
  },
  (t) => [index("cambios_recibo_remitente_idx").on(t.remitenteId, t.xid, t.pos), index("cambios_recibo_en_idx").on(t.en)],
);

/** How far the receipts feed was pruned. */
export const cambiosReciboPoda = pgTable("cambios_recibo_poda", {
  id: integer("id").primaryKey(),
  xid: xid8("xid").notNull(),
  pos: bigint("pos", { mode: "bigint" }).notNull(),
});

export type Destinatario = typeof destinatariosMensaje.$inferSelect;
export type Despacho = typeof despachosMensaje.$inferSelect;
