import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { createBatcher, fromEntryError, networkFailureOf } from "@redup/kit";
import { overloaded } from "./protocol/errors.js";
import type { MessagesService, SendMessageRequestSchema, SendMessageResponse } from "@redup/proto/redup/messages/v1/messages_pb";
import type { Metrics } from "./metrics.js";

export type SendRequest = MessageInitShape<typeof SendMessageRequestSchema>;
/** Sends `request`; `deadline` (a performance.now() time) is when the client's event runs out of time. */
export interface SendQueue {
  (request: SendRequest, deadline: number): Promise<SendMessageResponse>;
  /** True while the queue sheds its backlog: a send arriving now would likely be refused. */
  readonly shedding: boolean;
}

/** A send waiting for its call, with when the client's event runs out of time. */
interface Queued {
  request: SendRequest;
  deadline: number;
}

/** Sends per SendMessages call; far below the RPC's limit of 1000, to keep each call short. */
const MAX_BATCH = 256;
/** Calls in flight: one being stored while the next gathers the sends that arrive meanwhile. */
const MAX_IN_FLIGHT = 2;
/** How long the queue may run behind its arrivals before it sheds its standing queue. */
const SHED_BACKLOG_AFTER_MS = 100;

/**
 * A SendMessages call that failed once it had left — the connection reset, the stream closed,
 * messages killed mid-call — carries no verdict from messages, which may have stored the
 * sends. As Unavailable or Aborted it would read as a certain failure and get the guide's
 * unsaved live copy, which next to the stored message reaches every recipient twice under
 * two identities (the fault harness's ledger saw it). So it becomes DeadlineExceeded, an
 * unknown outcome: the client is told SERVICE_UNAVAILABLE and retries with its client_msg_id.
 * A call that could not connect stays as it was: nothing was sent.
 */
function callFailure(err: unknown): unknown {
  const code = ConnectError.from(err).code;
  if ((code !== Code.Unavailable && code !== Code.Aborted) || networkFailureOf(err) === "connect") return err;
  return new ConnectError("the outcome of the sends is unknown: the call to messages broke", Code.DeadlineExceeded, undefined, undefined, err);
}

/**
 * The edge's sends, gathered into SendMessages calls: the sends of all sockets that arrive
 * while a call is in flight go together in the next one, so one round trip (and one commit in
 * messages) serves many messages. Each send still gets its own answer, or the ConnectError
 * SendMessage would have raised for it alone. At most `maxPending` sends wait for a call,
 * none past its event's deadline: past either a send is refused as OVERLOADED (the client
 * retries after a pause) rather than queued behind work that cannot finish in time. Under
 * sustained overload the queue holds about one round of calls, not seconds of sends, and each
 * send tells messages how long it may still wait there (max_wait_ms): one budget per event,
 * from its arrival at the edge to its store, not one per hop.
 */
export function createSendQueue(messages: Client<typeof MessagesService>, metrics: Metrics, limits: { maxPending: number; maxWaitMs: number }): SendQueue {
  const queue = createBatcher<Queued, SendMessageResponse>({
    name: "send",
    maxBatch: MAX_BATCH,
    maxInFlight: MAX_IN_FLIGHT,
    maxQueued: limits.maxPending,
    maxWaitMs: limits.maxWaitMs,
    shedBacklogAfterMs: SHED_BACKLOG_AFTER_MS,
    overloaded: () => overloaded(),
    onShed: () => metrics.shed.inc({ queue: "send" }),
    onBatch: (size) => metrics.sendBatch.observe(size),
    run: async (queued) => {
      const now = performance.now();
      const requests = queued.map(({ request, deadline }) => {
        request.maxWaitMs = Math.max(1, Math.floor(deadline - now));
        return request;
      });
      // Compact results: the edge keeps each request, and needs back only the stored ids.
      const { results } = await messages.sendMessages({ requests, compactResults: true }).catch((err: unknown) => {
        throw callFailure(err);
      });
      return results.map(({ outcome }) => {
        if (outcome.case === "sent") return outcome.value;
        if (outcome.case === "error") return fromEntryError(outcome.value);
        return new ConnectError("messages answered a send without an outcome", Code.Internal);
      });
    },
  });
  const send = (request: SendRequest, deadline: number) => queue({ request, deadline }, deadline);
  return Object.defineProperty(send, "shedding", { get: () => queue.shedding }) as SendQueue;
}
