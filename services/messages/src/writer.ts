import { create } from "@bufbuild/protobuf";
import { createBatcher, type ServiceMetrics } from "@redup/kit";
import { MessageSchema, type Message } from "@redup/proto/redup/messages/v1/messages_pb";
import type { Room } from "@redup/proto/redup/rooms/v1/rooms_pb";
import * as q from "./db/queries.js";
import type { Dispatcher, Outgoing } from "./dispatcher.js";
import { toMessage } from "./mappers.js";
import type { SendInput } from "./validate.js";

/** A checked message and the room it goes to. */
export interface PreparedSend {
  input: SendInput;
  room: Room;
}

/** What SendMessage answers. */
export interface SendOutcome {
  message: Message;
  duplicate: boolean;
  dispatched: boolean;
}

export interface WriterDeps {
  db: q.MessagesDb;
  dispatcher: Dispatcher;
  metrics: ServiceMetrics;
  /** Messages per INSERT statement and per DispatchMany call. */
  maxBatch: number;
}

/** The sender dispatches inline; the outbox worker waits this long before taking over. */
const INLINE_LEASE_MS = 10_000;

/**
 * The write path of every send, as a two-stage pipeline of group commits:
 * 1. store: concurrent sends are inserted together, one statement and one commit per batch,
 *    one batch at a time, so ids follow arrival order;
 * 2. dispatch: stored messages are handed to delivery together, one batch at a time, in the
 *    order they were stored, so a room's live events follow its ids.
 * The next batch is stored while the previous one is dispatched. Each caller is answered
 * only once its own message is committed (and dispatched, or left to the outbox).
 */
export function createMessageWriter(deps: WriterDeps): (send: PreparedSend) => Promise<SendOutcome> {
  const { db, dispatcher, metrics } = deps;

  const dispatch = createBatcher<Outgoing, boolean>({
    // dispatchBatch reports failures as false; a throw still must not turn a stored message
    // into an error for its sender (the outbox hands it over later).
    run: (items) => dispatcher.dispatchBatch(items).catch(() => items.map(() => false)),
    maxBatch: deps.maxBatch,
    maxInFlight: 1,
    name: "dispatch",
    onBatch: (size) => metrics.batchSize.observe({ kind: "dispatch" }, size),
  });

  const store = async (sends: PreparedSend[]) => {
    const inserted = await q.insertMessages(
      db,
      sends.map(({ input, room }) => ({
        values: {
          salaChatId: room.id,
          remitenteId: input.senderId,
          tipoMensaje: input.tipo,
          contenido: input.content,
          urlArchivo: input.urlArchivo,
          metadatos: input.metadata,
        },
        clientMsgId: input.clientMsgId,
        clientTimestamp: input.clientTimestamp,
        origin: input.origin,
        inlineLeaseMs: INLINE_LEASE_MS,
      })),
    );
    // The outcomes are promises that settle after dispatch, so this batch's slot frees as soon
    // as it is committed; queueing for dispatch here, in store order, keeps rooms in id order.
    return inserted.map((outcome, i): Promise<SendOutcome> | Error => {
      if (outcome instanceof Error) return outcome;
      const room = sends[i]!.room;
      if ("duplicate" in outcome) {
        return Promise.resolve({ message: create(MessageSchema, toMessage(outcome.duplicate, room)), duplicate: true, dispatched: false });
      }
      const message = create(MessageSchema, toMessage(outcome.stored, room));
      return dispatch({ message, origin: sends[i]!.input.origin }).then((dispatched) => ({ message, duplicate: false, dispatched }));
    });
  };

  const write = createBatcher<PreparedSend, Promise<SendOutcome>>({
    run: store,
    maxBatch: deps.maxBatch,
    maxInFlight: 1,
    name: "store",
    onBatch: (size) => metrics.batchSize.observe({ kind: "store" }, size),
  });
  // Awaiting flattens the batcher's promise of the dispatch promise.
  return async (send) => write(send);
}
