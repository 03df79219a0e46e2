import { sql } from "drizzle-orm";
import { bigint, index, pgTable, primaryKey, timestamp } from "drizzle-orm/pg-core";

/** The guide's `destinatarios_mensaje`: one row per recipient of a message. */
export const destinatariosMensaje = pgTable(
  "destinatarios_mensaje",
  {
    mensajeId: bigint("mensaje_id", { mode: "bigint" }).notNull(),
    destinatarioId: bigint("destinatario_id", { mode: "bigint" }).notNull(),
    entregadoEn: timestamp("entregado_en", { withTimezone: true }),
    leidoEn: timestamp("leido_en", { withTimezone: true }),
    creadoEn: timestamp("creado_en", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.mensajeId, t.destinatarioId] }),
    index("destinatarios_mensaje_pendientes_idx").on(t.destinatarioId, t.mensajeId).where(sql`${t.entregadoEn} is null`),
  ],
);

/** Who sent each dispatched message, so receipts can reach the sender without asking messages. */
export const despachosMensaje = pgTable("despachos_mensaje", {
  mensajeId: bigint("mensaje_id", { mode: "bigint" }).primaryKey(),
  remitenteId: bigint("remitente_id", { mode: "bigint" }).notNull(),
  salaChatId: bigint("sala_chat_id", { mode: "bigint" }).notNull(),
  creadoEn: timestamp("creado_en", { withTimezone: true }).notNull().defaultNow(),
});

export type Destinatario = typeof destinatariosMensaje.$inferSelect;
export type Despacho = typeof despachosMensaje.$inferSelect;
