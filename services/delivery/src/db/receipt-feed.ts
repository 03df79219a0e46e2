import { changeFeed } from "@redup/kit";

const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));

/** The receipts feed (cambios_recibo): a sender reads the receipts of their messages. */
export const receiptChanges = changeFeed(
  {
    table: "cambios_recibo",
    prunedTable: "cambios_recibo_poda",
    key: "remitente_id",
    columns: "c.mensaje_id::text as mensaje, c.destinatario_id::text as destinatario, coalesce(c.sala_chat_id, 0)::text as sala, c.leido, c.en",
    name: "delivery_feed",
  },
  (r) => ({
    messageId: BigInt(r["mensaje"] as string),
    recipientId: BigInt(r["destinatario"] as string),
    roomId: BigInt(r["sala"] as string),
    read: r["leido"] === true,
    at: date(r["en"]),
  }),
);
