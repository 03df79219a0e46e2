import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { createBatcher, describeError, type Logger, type ServiceMetrics } from "@redup/kit";
import type { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { MessageSchema } from "@redup/proto/redup/messages/v1/messages_pb";
import * as q from "./db/queries.js";
import type { MessageEvents, Outgoing } from "./events.js";
import { toMessage } from "./mappers.js";
import type { RoomDirectory } from "./rooms.js";

export interface DispatcherDeps {
  db: q.MessagesDb;
  delivery: Client<typeof DeliveryService>;
  events: MessageEvents;
  rooms: RoomDirectory;
  logger: Logger;
  metrics: ServiceMetrics;
  /** How often the outbox is scanned for hand-offs that did not complete. */
  intervalMs: number;
  /** Most messages per DispatchMany call and per publish flush. */
  maxBatch: number;
}

/** How long an outbox entry is leased to the worker that took it. */
export const DISPATCH_LEASE_MS = 30_000;
/** How long the storing request has to hand its messages off before the outbox worker may. */
export const INLINE_LEASE_MS = 10_000;
/** Hand-off batches running at once (each a DispatchMany call, then a publish). */
const IN_FLIGHT = 4;
const SWEEP_BATCH = 200;
/**
 * Hand-offs that may wait in memory. Past it a stored message is left to the outbox (its
 * record is durable; the sweep takes it once the inline lease ends): memory stays bounded
 * and nothing is lost, the live event is only later.
 */
const MAX_WAITING = 20_000;
const MAX_BACKOFF_MS = 30_000;

export interface Dispatcher {
  /**
   * Hands just-stored messages off, in the order they were stored: delivery records their
   * recipients (so they are pending for whoever is offline), then their live events are
   * published. A hand-off that fails is retried from the outbox with backoff.
   */
  handOff(items: Outgoing[]): void;
  /**
   * Resolves once this process has tried to publish the message's live event (at once when it
   * holds no such hand-off), so an edit or a deletion is published after the message itself.
   */
  published(messageId: bigint): Promise<void>;
  start(): void;
  /** Stops the outbox worker and waits for the hand-offs under way (what is left stays in the outbox). */
  stop(): Promise<void>;
}

/**
 * The second half of a send. It runs after the sender has its answer, so a slow delivery or
 * NATS delays only the live event, never the ACK.
 *
 * Order: each batch takes its rooms' turns when it starts (batches start in store order),
 * and publishes only after the batches before it in those rooms have published, so one
 * process publishes every room in id order. Across replicas, or after a retry, an event may
 * still arrive early; subscribers put a room back in order by room_seq (see events.proto).
 */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { db, delivery, events, rooms, logger, metrics } = deps;
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  let stopped = false;
  const running = new Set<Promise<unknown>>();

  /** The latest hand-off that publishes into each room: a room's next batch publishes after it. */
  const turns = new Map<bigint, Promise<void>>();
  /** Messages handed off here whose live event has not been published yet, by id. */
  const unpublished = new Map<bigint, { done: Promise<void>; resolve: () => void }>();
  const settle = (ids: Iterable<bigint>) => {
    for (const id of ids) {
      unpublished.get(id)?.resolve();
      unpublished.delete(id);
    }
  };

  /** Handed-off entries are removed in batches (one DELETE for many); a crash before that only
   * means a redundant, idempotent hand-off later. */
  const completed = new Set<bigint>();
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  const flushCompleted = () => {
    flushTimer = undefined;
    const ids = [...completed];
    if (ids.length === 0) return flushing;
    metrics.batchSize.observe({ kind: "outbox_cleanup" }, ids.length);
    flushing = flushing
      .then(() => q.completeDispatches(db, ids))
      .then(() => ids.forEach((id) => completed.delete(id)))
      .catch((err: unknown) => {
        // Kept in `completed`; the next flush tries again.
        logger.warn({ count: ids.length, err: describeError(err) }, "[DISPATCH] could not clear handed-off outbox entries");
      });
    return flushing;
  };
  const complete = (ids: bigint[]) => {
    for (const id of ids) completed.add(id);
    if (completed.size >= 500) void flushCompleted();
    else flushTimer ??= setTimeout(() => void flushCompleted(), 50);
  };

  const backoff = (attempts: number) => Math.min(1000 * 2 ** Math.min(Math.max(attempts - 1, 0), 5), MAX_BACKOFF_MS);

  /** Delivery needs only a message's addressing to record its recipients. */
  const addressing = ({ message }: Outgoing) =>
    create(MessageSchema, { id: message.id, roomId: message.roomId, roomType: message.roomType, senderId: message.senderId, to: message.to });

  /** One hand-off: record, wait for the rooms' earlier batches, publish; then done or retried. */
  const handOffBatch = async (items: Outgoing[], attempts: number): Promise<void> => {
    const earlier = new Set<Promise<void>>();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    for (const { message } of items) {
      const before = turns.get(message.roomId);
      if (before && before !== mine) earlier.add(before);
      turns.set(message.roomId, mine);
    }
    try {
      const recorded = await delivery.dispatchMany({ dispatches: items.map((item) => ({ message: addressing(item) })) }).then(
        () => true,
        (err: unknown) => {
          logger.warn({ count: items.length, attempts, err: describeError(err) }, "[DISPATCH] delivery could not record recipients; will retry");
          return false;
        },
      );
      await Promise.all(earlier);
      // Published even when delivery failed: the recipients online get the message now; the
      // retry records them (and publishes again, which subscribers drop as a duplicate).
      const published = await events.publish(items).then(
        () => true,
        (err: unknown) => {
          logger.warn({ count: items.length, attempts, err: describeError(err) }, "[NATS] live events not published; will retry");
          return false;
        },
      );
      const ids = items.map((item) => item.message.id);
      if (recorded && published) complete(ids);
      else await q.retryDispatchLater(db, ids, backoff(attempts)).catch(() => {
        // The lease expires by itself; the next scan takes the entries then.
      });
    } finally {
      settle(items.map(({ message }) => message.id));
      release();
      for (const { message } of items) if (turns.get(message.roomId) === mine) turns.delete(message.roomId);
    }
  };

  const track = <T>(work: Promise<T>) => {
    running.add(work);
    const done = () => running.delete(work);
    work.then(done, done);
    return work;
  };

  const inline = createBatcher<Outgoing, true>({
    name: "dispatch",
    maxBatch: deps.maxBatch,
    maxInFlight: IN_FLIGHT,
    maxQueued: MAX_WAITING,
    onShed: () => metrics.shed.inc({ queue: "handoff" }),
    onBatch: (size) => metrics.batchSize.observe({ kind: "dispatch" }, size),
    run: async (items) => {
      await handOffBatch(items, 1);
      return items.map(() => true);
    },
  });

  /** Takes over hand-offs whose lease ran out (a failed attempt, or a replica that died). */
  const sweep = async () => {
    const due = await q.claimDueDispatches(db, SWEEP_BATCH, DISPATCH_LEASE_MS);
    if (due.length === 0) return;
    metrics.batchSize.observe({ kind: "outbox_sweep" }, due.length);
    const stored = new Map((await q.getMessages(db, due.map((d) => d.mensajeId))).map((s) => [s.mensaje.id, s]));
    const gone = due.filter((entry) => !stored.has(entry.mensajeId)).map((entry) => entry.mensajeId);
    if (gone.length > 0) await q.completeDispatches(db, gone);
    const items: { item: Outgoing; attempts: number }[] = [];
    for (const entry of due) {
      const row = stored.get(entry.mensajeId);
      if (!row) continue;
      try {
        const message = create(MessageSchema, toMessage(row, await rooms.get(row.mensaje.salaChatId)));
        items.push({ item: { message, origin: entry.origen, seq: entry.seqSala ?? 0n, previousSentAt: null }, attempts: entry.intentos + 1 });
      } catch (err) {
        // This message's room cannot be read now (rooms down); its lease brings it back later.
        logger.warn({ mensajeId: String(entry.mensajeId), err: describeError(err) }, "[DISPATCH] could not rebuild an outbox entry's message");
      }
    }
    for (let i = 0; i < items.length && !stopped; i += deps.maxBatch) {
      const slice = items.slice(i, i + deps.maxBatch);
      await track(handOffBatch(slice.map((s) => s.item), Math.max(...slice.map((s) => s.attempts))));
      logger.info({ count: slice.length }, "[DISPATCH] handed off from the outbox");
    }
  };

  const loop = (delayMs = deps.intervalMs) => {
    timer = setTimeout(() => {
      sweeping = sweep()
        .catch((err: unknown) => logger.warn({ err: describeError(err) }, "[DISPATCH] outbox scan failed"))
        .finally(() => {
          sweeping = undefined;
          if (!stopped) loop();
        });
    }, delayMs);
  };

  return {
    handOff(items) {
      // Tracked from the moment it is queued, so stop() waits for it too. A refusal (the queue
      // is full) leaves the message to the outbox, which has it already.
      for (const item of items) {
        let resolve!: () => void;
        const done = new Promise<void>((r) => (resolve = r));
        unpublished.set(item.message.id, { done, resolve });
        void track(inline(item)).catch((err: unknown) => {
          settle([item.message.id]);
          if (ConnectError.from(err).code !== Code.ResourceExhausted) logger.error({ err: describeError(err) }, "[DISPATCH] hand-off failed unexpectedly; the outbox retries it");
        });
      }
    },
    published(messageId) {
      return unpublished.get(messageId)?.done ?? Promise.resolve();
    },
    start() {
      stopped = false;
      loop(0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await sweeping;
      await Promise.allSettled([...running]);
      clearTimeout(flushTimer);
      await flushCompleted();
    },
  };
}
