import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { describeError, type Logger, type ServiceMetrics } from "@redup/kit";
import type { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { MessageSchema, type Message } from "@redup/proto/redup/messages/v1/messages_pb";
import * as q from "./db/queries.js";
import { toMessage } from "./mappers.js";
import type { RoomDirectory } from "./rooms.js";
import { createKeyedSerializer } from "./ordering.js";

export interface DispatcherDeps {
  db: q.MessagesDb;
  delivery: Client<typeof DeliveryService>;
  rooms: RoomDirectory;
  logger: Logger;
  metrics: ServiceMetrics;
  /** How often the outbox is scanned for messages delivery has not confirmed. */
  intervalMs: number;
}

/** How long an outbox entry is leased to whoever is dispatching it. */
export const DISPATCH_LEASE_MS = 30_000;
const BATCH = 100;
const MAX_BACKOFF_MS = 30_000;

/** A stored message on its way to delivery, with the tag of the connection that sent it. */
export interface Outgoing {
  message: Message;
  origin: string;
}

export interface Dispatcher {
  /**
   * Hands a batch of just-stored messages (in id order) to delivery; one outcome per message:
   * false when it could not happen now (the outbox retries, in order). Rooms without a backlog
   * go in one DispatchMany call; the others take their room's turn behind their older
   * messages. Call batches one at a time, in the order their messages were stored.
   */
  dispatchBatch(items: Outgoing[]): Promise<boolean[]>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Delivery of stored messages, inline first and then from the outbox: a message whose
 * dispatch failed (delivery or NATS down) stays in `mensajes_despacho_pendiente` and is
 * retried with backoff until delivery confirms it. A room's messages are always handed over
 * in id order: a newer one never overtakes an older one waiting for a retry.
 */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { db, delivery, rooms, logger } = deps;
  /** A room's turn: the outbox sweep and batches of rooms with a backlog hand over its messages in id order. */
  const serialize = createKeyedSerializer();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  /**
   * Rooms with messages waiting in the outbox: only their sends look for older entries first
   * (a query per send otherwise). Unknown until the outbox was read once at start.
   */
  const backlog = new Set<bigint>();
  let backlogKnown = false;

  /** Handed-over entries are removed in batches (one DELETE for many); a crash before that
   * only means a redundant, idempotent re-dispatch. */
  const completed = new Set<bigint>();
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  const flushCompleted = () => {
    flushTimer = undefined;
    const ids = [...completed];
    if (ids.length === 0) return flushing;
    deps.metrics.batchSize.observe({ kind: "outbox_cleanup" }, ids.length);
    flushing = flushing
      .then(() => q.completeDispatches(db, ids))
      .then(() => ids.forEach((id) => completed.delete(id)))
      .catch((err: unknown) => {
        // Kept in `completed`; the next flush tries again.
        logger.warn({ count: ids.length, err: describeError(err) }, "[DISPATCH] could not clear handed-over outbox entries");
      });
    return flushing;
  };
  const complete = (id: bigint) => {
    completed.add(id);
    if (completed.size >= 500) void flushCompleted();
    else flushTimer ??= setTimeout(() => void flushCompleted(), 50);
  };

  const backoff = (attempts: number) => Math.min(1000 * 2 ** Math.min(Math.max(attempts - 1, 0), 5), MAX_BACKOFF_MS);

  /** One hand-over; on failure the entry is rescheduled and false returned. */
  const dispatchOne = async (message: Message, origin: string, attempts: number) => {
    try {
      await delivery.dispatch({ message, origin });
      complete(message.id);
      return true;
    } catch (err) {
      backlog.add(message.roomId);
      const delay = backoff(attempts);
      logger.warn({ mensajeId: String(message.id), attempts, retryInMs: delay, err: describeError(err) }, "[DISPATCH] delivery failed, will retry");
      await q.retryDispatchLater(db, message.id, delay).catch(() => {
        // The lease expires by itself; the next scan takes the entry again.
      });
      return false;
    }
  };

  /** One DispatchMany call for messages of rooms without a backlog; on failure all retry later. */
  const dispatchAll = async (items: Outgoing[]) => {
    try {
      await delivery.dispatchMany({ dispatches: items });
      for (const { message } of items) complete(message.id);
      return true;
    } catch (err) {
      for (const { message } of items) backlog.add(message.roomId);
      const delay = backoff(1);
      logger.warn({ count: items.length, retryInMs: delay, err: describeError(err) }, "[DISPATCH] delivery failed, will retry");
      await q.retryDispatchLater(db, items.map(({ message }) => message.id), delay).catch(() => {
        // The inline lease expires by itself; the outbox takes the entries then.
      });
      return false;
    }
  };

  const toProto = async (stored: q.StoredMessage) =>
    create(MessageSchema, toMessage(stored, await rooms.get(stored.mensaje.salaChatId)));

  /** Hands over a room's waiting entries in id order, stopping at the first failure. */
  const drainRoom = async (entries: { stored: q.StoredMessage; origin: string; attempts: number }[]) => {
    const waiting = await q.stillPending(db, entries.map((e) => e.stored.mensaje.id));
    for (const entry of entries) {
      if (!waiting.has(entry.stored.mensaje.id) || completed.has(entry.stored.mensaje.id)) continue;
      if (!(await dispatchOne(await toProto(entry.stored), entry.origin, entry.attempts))) return false;
      logger.info({ mensajeId: String(entry.stored.mensaje.id), attempts: entry.attempts }, "[DISPATCH] delivered from outbox");
    }
    return true;
  };

  const sweep = async () => {
    if (!backlogKnown) {
      for (const room of await q.roomsWithBacklog(db)) backlog.add(room);
      backlogKnown = true;
    }
    const due = await q.claimDueDispatches(db, BATCH, DISPATCH_LEASE_MS);
    if (due.length === 0) return;
    deps.metrics.batchSize.observe({ kind: "outbox_sweep" }, due.length);
    const stored = new Map((await q.getMessages(db, due.map((d) => d.mensajeId))).map((s) => [s.mensaje.id, s]));
    const byRoom = new Map<bigint, { stored: q.StoredMessage; origin: string; attempts: number }[]>();
    for (const entry of due) {
      const row = stored.get(entry.mensajeId);
      if (!row) {
        await q.completeDispatch(db, entry.mensajeId);
        continue;
      }
      const list = byRoom.get(row.mensaje.salaChatId) ?? [];
      list.push({ stored: row, origin: entry.origen, attempts: entry.intentos + 1 });
      byRoom.set(row.mensaje.salaChatId, list);
    }
    for (const [roomId, entries] of byRoom) {
      if (stopped) return;
      try {
        backlog.add(roomId);
        if (await serialize(String(roomId), () => drainRoom(entries))) backlog.delete(roomId);
      } catch (err) {
        // One room's trouble (e.g. rooms unreachable for its addressing) does not stop the others.
        logger.warn({ roomId: String(roomId), err: describeError(err) }, "[DISPATCH] outbox entries of a room failed");
      }
    }
  };

  const loop = (delayMs = deps.intervalMs) => {
    timer = setTimeout(() => {
      running = sweep()
        .catch((err: unknown) => logger.warn({ err: describeError(err) }, "[DISPATCH] outbox scan failed"))
        .finally(() => {
          running = undefined;
          if (!stopped) loop();
        });
    }, delayMs);
  };

  /**
   * Hands one message to delivery after any older messages of its room still in the outbox;
   * false when that could not all happen now. Runs inside the room's turn.
   */
  const dispatchInOrder = async (message: Message, origin: string) => {
    try {
      const older = !backlogKnown || backlog.has(message.roomId) ? await q.pendingInRoomBefore(db, message.roomId, message.id) : [];
      const entries = older.map((o) => ({ stored: { mensaje: o.mensaje, cliente: o.cliente }, origin: o.entry.origen, attempts: o.entry.intentos + 1 }));
      if (entries.length > 0 && !(await drainRoom(entries))) {
        // An older message is still stuck: this one waits its turn in the outbox.
        backlog.add(message.roomId);
        await q.retryDispatchLater(db, message.id, backoff(1));
        return false;
      }
      if (backlogKnown) backlog.delete(message.roomId);
    } catch (err) {
      logger.warn({ mensajeId: String(message.id), err: describeError(err) }, "[DISPATCH] could not check the room's older messages");
      await q.retryDispatchLater(db, message.id, backoff(1)).catch(() => {});
      return false;
    }
    return dispatchOne(message, origin, 1);
  };

  return {
    async dispatchBatch(items) {
      const outcome = new Map<Outgoing, boolean>();
      const clear: Outgoing[] = [];
      const behind = new Map<bigint, Outgoing[]>();
      for (const item of items) {
        if (backlogKnown && !backlog.has(item.message.roomId)) {
          clear.push(item);
        } else {
          const list = behind.get(item.message.roomId) ?? [];
          list.push(item);
          behind.set(item.message.roomId, list);
        }
      }
      const rooms = [...behind].map(([roomId, list]) =>
        serialize(String(roomId), async () => {
          for (const item of list) outcome.set(item, await dispatchInOrder(item.message, item.origin));
        }),
      );
      if (clear.length > 0) {
        const ok = await dispatchAll(clear);
        for (const item of clear) outcome.set(item, ok);
      }
      await Promise.all(rooms);
      return items.map((item) => outcome.get(item)!);
    },
    start() {
      stopped = false;
      // The first scan learns which rooms have a backlog; until then every send checks its room.
      loop(0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      clearTimeout(flushTimer);
      await flushCompleted();
    },
  };
}
