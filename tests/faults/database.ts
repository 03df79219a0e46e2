/**
 * What the database holds of a fault run's acknowledged work, read straight from the
 * messages and delivery services' tables (the run has a database of its own).
 */
import { withClient } from "@redup/kit/testing";
import type { DatabaseCheck, Ledger } from "./ledger.js";
import type { LoadRecord } from "./load.js";

export async function checkDatabase(url: string, load: LoadRecord, lostPairs: Ledger["lostPairs"]): Promise<DatabaseCheck> {
  return withClient(url, async (c) => {
    const ids = [...load.saved.keys()];
    const stored = Number((await c.query("select count(*) from mensajes where id = any($1::bigint[])", [ids])).rows[0].count);
    // The text is m<key>, or e<key> once edited: one logical message, one row.
    const duplicatesInDb = Number(
      (
        await c.query(
          `select coalesce(sum(n - 1), 0) as extra from (
             select count(*) as n from mensajes where contenido ~ '^[me][0-9]+-[0-9]+$' group by substr(contenido, 2)
           ) k`,
        )
      ).rows[0].extra,
    );
    const edited = [...load.edited.keys()];
    const editRows = (await c.query("select id::text, contenido, editado_en from mensajes where id = any($1::bigint[])", [edited])).rows as { id: string; contenido: string | null; editado_en: Date | null }[];
    const editsMissingInDb = edited.length - editRows.filter((r) => r.editado_en !== null && r.contenido === load.edited.get(r.id)).length;
    const deleted = [...load.deleted];
    const deletedRows = Number((await c.query("select count(*) from mensajes where id = any($1::bigint[]) and eliminado_en is not null", [deleted])).rows[0].count);

    const lostDetails: Record<string, unknown>[] = [];
    for (const { what, mensajeId, recipient } of lostPairs.slice(0, 20)) {
      const message = (await c.query("select sala_chat_id, remitente_id, enviado_en, editado_en, eliminado_en from mensajes where id = $1", [mensajeId])).rows[0];
      const recipientRow = (await c.query("select entregado_en, creado_en from destinatarios_mensaje where mensaje_id = $1 and destinatario_id = $2", [mensajeId, recipient])).rows[0];
      const outbox = (await c.query("select intentos, proximo_intento from mensajes_despacho_pendiente where mensaje_id = $1", [mensajeId])).rows[0];
      lostDetails.push({ what, mensaje_id: mensajeId, recipient, message: message ?? null, recipientRow: recipientRow ?? null, outbox: outbox ?? null });
    }
    return {
      missingFromDb: ids.length - stored,
      duplicatesInDb,
      editsMissingInDb,
      deletesMissingInDb: deleted.length - deletedRows,
      lostDetails,
    };
  });
}
