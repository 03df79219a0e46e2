import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createBatcher, networkFailureOf, type ServiceMetrics } from "@redup/kit";
import { MessageSchema, type Message } from "@redup/proto/redup/messages/v1/messages_pb";
import type { Room } from "@redup/proto/redup/rooms/v1/rooms_pb";
import * as q from "./db/queries.js";
import { INLINE_LEASE_MS, type Dispatcher } from "./dispatcher.js";
import type { Outgoing } from "./events.js";
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

/**
 * A store whose database connection broke while the statement was under way may have
 * committed: its outcome is unknown, so it is answered as DeadlineExceeded (gRPC's "may have
 * completed"), which callers retry with the same client_msg_id, never as Unavailable, which
 * the edge takes for a certain failure and answers with an unsaved live copy — a copy that,
 * next to the stored message, would reach every recipient twice. A connection that could not
 * be opened stays Unavailable: nothing was sent.
 */
function outcomeOf(err: unknown): unknown {
  return networkFailureOf(err) === "transport"
    ? new ConnectError("the store's outcome is unknown: the database connection broke", Code.DeadlineExceeded, undefined, undefined, err)
    : err;
}

/** The longest a send waits in its lane before it is refused (ResourceExhausted). */
const STORE_MAX_WAIT_MS = 2000;
/** How long a lane may run behind its arrivals before it sheds its standing queue. */
const SHED_BACKLOG_AFTER_MS = 100;

export interface WriterDeps {
  db: q.MessagesDb;
  dispatcher: Dispatcher;
  metrics: ServiceMetrics;
  /** Messages per store statement. */
  maxBatch: number;
  /** Lanes: store statements running at once, each for its own share of the rooms. */
  lanes: number;
  /** Sends that may wait in one lane; past it a send is refused with ResourceExhausted. */
  maxQueuedPerLane: number;
}

/**
 * The write path of every send, a group commit in lanes. Each room belongs to one lane (its
 * id modulo the lane count); a lane stores one batch at a time — the sends of its rooms that
 * arrived while its previous batch was being stored — with one statement and one commit, and
 * the lanes run side by side. A store locks its rooms until it commits (that is what orders
 * a room across replicas, see queries.ts), so two batches sharing rooms could only wait for
 * each other: lanes keep this process's concurrent batches on disjoint rooms. Each caller is
 * answered as soon as its message is committed, with its hand-off record: durable from then
 * on. The hand-off itself (recipients, live event) follows in the dispatcher. A lane holds
 * a bounded queue: under overload a send is refused at once (ResourceExhausted, retry later)
 * instead of waiting past its caller's deadline.
 */
export function createMessageWriter(deps: WriterDeps): (send: PreparedSend, deadline?: number) => Promise<SendOutcome> {
  const { db, dispatcher, metrics } = deps;

  const store = async (sends: PreparedSend[]) => {
    const outcomes = await q
      .insertMessages(
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
      })),
      INLINE_LEASE_MS,
    )
      .catch((err: unknown) => {
        throw outcomeOf(err);
      });
    const stored: Outgoing[] = [];
    const answers = outcomes.map((outcome, i): SendOutcome | Error => {
      if (outcome instanceof Error) return outcome;
      const { input, room } = sends[i]!;
      if ("duplicate" in outcome) return { message: create(MessageSchema, toMessage(outcome.duplicate, room)), duplicate: true, dispatched: false };
      const message = create(MessageSchema, toMessage(outcome.stored, room));
      stored.push({ message, origin: input.origin, seq: outcome.seq, previousSentAt: outcome.previousSentAt });
      return { message, duplicate: false, dispatched: false };
    });
    dispatcher.handOff(stored);
    return answers;
  };

  const lanes = Array.from({ length: Math.max(1, deps.lanes) }, () =>
    createBatcher<PreparedSend, SendOutcome>({
      run: store,
      maxBatch: deps.maxBatch,
      maxInFlight: 1,
      name: "store",
      maxQueued: deps.maxQueuedPerLane,
      // A send that waited this long would mostly run into its caller's deadline (5 s by
      // default); a caller that says it waits less (max_wait_ms) is refused sooner.
      maxWaitMs: STORE_MAX_WAIT_MS,
      // Under sustained overload a lane holds about one batch in waiting, not 2 s of sends.
      shedBacklogAfterMs: SHED_BACKLOG_AFTER_MS,
      onShed: () => metrics.shed.inc({ queue: "store" }),
      onBatch: (size) => metrics.batchSize.observe({ kind: "store" }, size),
    }),
  );
  const count = BigInt(lanes.length);
  return (send, deadline) => lanes[Number(send.room.id % count)]!(send, deadline);
}
