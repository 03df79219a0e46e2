import type { MessageInitShape } from "@bufbuild/protobuf";
import { toTimestamp } from "@redup/kit";
import type { ReceiptSchema } from "@redup/proto/redup/delivery/v1/delivery_pb";
import type { Destinatario } from "./db/schema.js";

export function toReceipt(row: Destinatario): MessageInitShape<typeof ReceiptSchema> {
  return {
    messageId: row.mensajeId,
    recipientId: row.destinatarioId,
    deliveredAt: toTimestamp(row.entregadoEn),
    readAt: toTimestamp(row.leidoEn),
    createdAt: toTimestamp(row.creadoEn),
  };
}
