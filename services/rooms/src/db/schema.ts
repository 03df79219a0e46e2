import { sql } from "drizzle-orm";
import { bigint, bigserial, index, pgEnum, pgTable, primaryKey, timestamp, uuid } from "drizzle-orm/pg-core";

/** The guide's enum of room kinds. */
export const tipoSalaChat = pgEnum("tipo_sala_chat_enum", ["directo", "grupal"]);

/**
 * The guide's `salas_chat`. A direct room stores the smaller user id in usuario_a_id;
 * rows written by older servers in either order are still found (lookups use least/greatest).
 */
export const salasChat = pgTable(
  "salas_chat",
  {
    id: bigserial("id", { mode: "bigint" }).primaryKey(),
    salaUuid: uuid("sala_uuid").notNull().unique().defaultRandom(),
    tipoSala: tipoSalaChat("tipo_sala").notNull(),
    usuarioAId: bigint("usuario_a_id", { mode: "bigint" }),
    usuarioBId: bigint("usuario_b_id", { mode: "bigint" }),
    grupoId: bigint("grupo_id", { mode: "bigint" }),
    creadoEn: timestamp("creado_en", { withTimezone: true }).notNull().defaultNow(),
    actualizadoEn: timestamp("actualizado_en", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index("salas_chat_directo_par_idx")
      .on(sql`least(${t.usuarioAId}, ${t.usuarioBId})`, sql`greatest(${t.usuarioAId}, ${t.usuarioBId})`)
      .where(sql`${t.tipoSala} = 'directo'`),
    index("salas_chat_grupo_idx").on(t.grupoId).where(sql`${t.tipoSala} = 'grupal'`),
    // A user's direct rooms (the inbox), whichever side of the pair the user is stored on.
    index("salas_chat_directo_a_idx").on(t.usuarioAId).where(sql`${t.tipoSala} = 'directo'`),
    index("salas_chat_directo_b_idx").on(t.usuarioBId).where(sql`${t.tipoSala} = 'directo'`),
  ],
);

/** Group membership, owned by rooms: who receives a group's messages. */
export const chatMiembrosGrupo = pgTable(
  "chat_miembros_grupo",
  {
    grupoId: bigint("grupo_id", { mode: "bigint" }).notNull(),
    usuarioId: bigint("usuario_id", { mode: "bigint" }).notNull(),
    unidoEn: timestamp("unido_en", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.grupoId, t.usuarioId] }), index("chat_miembros_grupo_usuario_idx").on(t.usuarioId, t.grupoId)],
);

export type SalaChat = typeof salasChat.$inferSelect;
export type MiembroGrupo = typeof chatMiembrosGrupo.$inferSelect;
