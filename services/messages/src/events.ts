import { create, toBinary } from "@bufbuild/protobuf";
import { toTimestamp, type EventBus, type ServiceMetrics, type Subjects } from "@redup/kit";
import { MessageChangedSchema, MessageCreatedSchema } from "@redup/proto/redup/events/v1/events_pb";
import type { Message, MessageChangeKind } from "@redup/proto/redup/messages/v1/messages_pb";

/** A stored message on its way out, with what its live event carries besides the message. */
export interface Outgoing {
  message: Message;
  /** The tag of the connection that sent it (the edge skips that socket). */
  origin: string;
  /** The message's room_seq; 0 when unknown (a message stored before room numbering). */
  seq: bigint;
  /** When the room's previous message was stored; null when unknown or none. */
  previousSentAt: Date | null;
}

/**
 * Publishes MessageCreated for stored messages: the one publisher of a stored message's live
 * event (the edge publishes only messages it could not store, the guide's fallback).
 */
export interface MessageEvents {
  /** Publishes every message's event, in order, and waits once for NATS to have them all. */
  publish(items: Outgoing[]): Promise<void>;
  /**
   * Publishes an edit or a deletion to every member's devices. Best effort: a device that
   * misses it learns of it from the change feed (ListChanges).
   */
  changed(kind: MessageChangeKind, message: Message, at: Date): Promise<void>;
}

export function createMessageEvents(bus: EventBus, subjects: Subjects, metrics: ServiceMetrics): MessageEvents {
  return {
    async publish(items) {
      const events = items.map(({ message, origin, seq, previousSentAt }) => ({
        subject: subjects.messageCreated(message),
        payload: toBinary(MessageCreatedSchema, create(MessageCreatedSchema, { message, origin, roomSeq: seq, previousSentAt: toTimestamp(previousSentAt) })),
      }));
      try {
        await bus.publishAll(events);
      } catch (err) {
        metrics.natsPublishErrors.inc(items.length);
        throw err;
      }
    },
    async changed(kind, message, at) {
      const payload = toBinary(MessageChangedSchema, create(MessageChangedSchema, { kind, message, at: toTimestamp(at) }));
      try {
        await bus.publishAll(subjects.messageChanged(message).map((subject) => ({ subject, payload })));
      } catch {
        metrics.natsPublishErrors.inc();
      }
    },
  };
}
