import { changeFeed } from "@redup/kit";

export type ChangeType = "mensaje" | "edicion" | "eliminacion";

const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));

/** The change feed of every room (cambios_sala): a user reads the rows of their rooms. */
export const roomChanges = changeFeed(
  { table: "cambios_sala", prunedTable: "cambios_poda", key: "sala_chat_id", columns: "c.sala_chat_id::text as sala, c.mensaje_id::text as mensaje, c.tipo, c.en", name: "messages_feed" },
  (r) => ({ roomId: BigInt(r["sala"] as string), messageId: BigInt(r["mensaje"] as string), type: r["tipo"] as ChangeType, at: date(r["en"]) }),
);
