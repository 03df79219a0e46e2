import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describeError, type EventBus, type Logger, type ServiceMetrics, type Subjects } from "@redup/kit";
import { ReceiptKind, ReceiptUpdatedSchema } from "@redup/proto/redup/events/v1/events_pb";

export interface EventPublisher {
  /** Tells the sender about a receipt; best effort (the state is stored and readable with GetReceipts). */
  receipt(kind: ReceiptKind, messageId: bigint, senderId: bigint, recipientId: bigint, at: Date): Promise<void>;
}

export function createEventPublisher(bus: EventBus, subjects: Subjects, logger: Logger, metrics: ServiceMetrics): EventPublisher {
  return {
    async receipt(kind, messageId, senderId, recipientId, at) {
      if (senderId === 0n) return;
      const payload = toBinary(
        ReceiptUpdatedSchema,
        create(ReceiptUpdatedSchema, { kind, messageId, senderId, recipientId, at: timestampFromDate(at) }),
      );
      try {
        await bus.publish(subjects.userReceipt(senderId), payload);
      } catch (err) {
        metrics.natsPublishErrors.inc();
        logger.warn({ mensajeId: String(messageId), err: describeError(err) }, "[NATS] receipt not published");
      }
    },
  };
}
