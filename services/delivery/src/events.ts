import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describeError, type BusEvent, type EventBus, type Logger, type ServiceMetrics, type Subjects } from "@redup/kit";
import { MessageCreatedSchema, ReceiptKind, ReceiptUpdatedSchema } from "@redup/proto/redup/events/v1/events_pb";
import type { Message } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";

export interface EventPublisher {
  /** Publishes MessageCreated on every subject that must see it; throws Unavailable if the bus cannot take it. */
  messageCreated(message: Message, origin: string): Promise<void>;
  /** The same for many messages, published in order with one confirmation for all. */
  messagesCreated(messages: { message: Message; origin: string }[]): Promise<void>;
  /** Tells the sender about a receipt; best effort (the state is stored and readable with GetReceipts). */
  receipt(kind: ReceiptKind, messageId: bigint, senderId: bigint, recipientId: bigint, at: Date): Promise<void>;
}

export function createEventPublisher(bus: EventBus, subjects: Subjects, logger: Logger, metrics: ServiceMetrics): EventPublisher {
  const toEvent = (message: Message, origin: string): BusEvent => ({
    payload: toBinary(MessageCreatedSchema, create(MessageCreatedSchema, { message, origin })),
    subject:
      message.roomType === RoomType.GRUPAL
        ? subjects.groupMessage(message.to)
        : // The recipient's devices, and the sender's other devices, confirmed together.
          [subjects.userMessage(message.to), subjects.userMessage(message.senderId)],
  });
  const publishAll = async (events: BusEvent[]) => {
    try {
      await bus.publishAll(events);
    } catch (err) {
      metrics.natsPublishErrors.inc();
      throw err;
    }
  };

  return {
    messageCreated: (message, origin) => publishAll([toEvent(message, origin)]),
    messagesCreated: (messages) => publishAll(messages.map((m) => toEvent(m.message, m.origin))),
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
