import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { createBatcher, fromEntryError } from "@redup/kit";
import type { Metrics } from "./metrics.js";
import { overloaded } from "./protocol/errors.js";
import type { DeliveryService, MarkSchema } from "@redup/proto/redup/delivery/v1/delivery_pb";

export type MarkRequest = MessageInitShape<typeof MarkSchema>;
/** Applies one delivered/read confirmation; throws the ConnectError MarkDelivered/MarkRead would. */
export type MarkQueue = (mark: MarkRequest) => Promise<void>;

const MAX_BATCH = 256;
const MAX_IN_FLIGHT = 2;

/**
 * Clients confirm every message they receive (the guide's hooks emit mark_delivered, then
 * mark_read), so confirmations arrive as fast as messages. They are gathered like sends: the
 * confirmations of all sockets that arrive while a call is in flight go in one BatchMark call,
 * each still answered (or refused) on its own.
 */
export function createMarkQueue(delivery: Client<typeof DeliveryService>, metrics: Metrics, limits: { maxPending: number; maxWaitMs: number }): MarkQueue {
  const mark = createBatcher<MarkRequest, true>({
    name: "mark",
    maxBatch: MAX_BATCH,
    maxInFlight: MAX_IN_FLIGHT,
    // Bounded like the sends: past it a confirmation is refused as OVERLOADED, to be retried.
    maxQueued: limits.maxPending,
    maxWaitMs: limits.maxWaitMs,
    overloaded: () => overloaded(),
    onShed: () => metrics.shed.inc({ queue: "mark" }),
    run: async (marks) =>
      (await delivery.batchMark({ marks })).results.map(({ outcome }) => {
        if (outcome.case === "error") return fromEntryError(outcome.value);
        if (outcome.case === undefined) return new ConnectError("delivery answered a mark without an outcome", Code.Internal);
        return true;
      }),
  });
  return async (request) => {
    await mark(request);
  };
}
