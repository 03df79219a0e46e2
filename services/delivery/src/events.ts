import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describeError, type EventBus, type Logger, type ServiceMetrics, type Subjects } from "@redup/kit";
import { PresenceChangedSchema, ReadMarkerMovedSchema, ReceiptKind, ReceiptUpdatedSchema } from "@redup/proto/redup/events/v1/events_pb";

/**
 * The live events delivery publishes. All are best effort: the state they announce is stored
 * and readable (GetReceipts, BatchGetReadState, BatchGetPresence) when one is lost.
 */
export interface EventPublisher {
  /** Tells the sender about a receipt. */
  receipt(kind: ReceiptKind, messageId: bigint, senderId: bigint, recipientId: bigint, at: Date): Promise<void>;
  /** Tells a reader's devices that their marker of a room moved, and what stays unread. */
  readMarker(userId: bigint, roomId: bigint, readUpTo: bigint, unread: number): Promise<void>;
  /** Tells a user's watchers that the user came online or went offline. */
  presence(userId: bigint, online: boolean, at: Date): Promise<void>;
}

export function createEventPublisher(bus: EventBus, subjects: Subjects, logger: Logger, metrics: ServiceMetrics): EventPublisher {
  const publish = async <D extends DescMessage>(subject: string, schema: D, event: MessageInitShape<D>, what: string, fields: object) => {
    try {
      await bus.publish(subject, toBinary(schema, create(schema, event)));
    } catch (err) {
      metrics.natsPublishErrors.inc();
      logger.warn({ ...fields, err: describeError(err) }, `[NATS] ${what} not published`);
    }
  };
  return {
    async receipt(kind, messageId, senderId, recipientId, at) {
      if (senderId === 0n) return;
      await publish(subjects.userReceipt(senderId), ReceiptUpdatedSchema, { kind, messageId, senderId, recipientId, at: timestampFromDate(at) }, "receipt", {
        mensajeId: String(messageId),
      });
    },
    readMarker: (userId, roomId, readUpTo, unread) =>
      publish(subjects.userReadMarker(userId), ReadMarkerMovedSchema, { userId, roomId, readUpTo, unread }, "read marker", { userId: String(userId) }),
    presence: (userId, online, at) =>
      publish(subjects.presence(userId), PresenceChangedSchema, { userId, online, lastSeen: timestampFromDate(at) }, "presence change", { userId: String(userId) }),
  };
}
