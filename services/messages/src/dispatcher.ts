import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { describeError, type Logger } from "@redup/kit";
import type { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { MessageSchema, type Message } from "@redup/proto/redup/messages/v1/messages_pb";
import * as q from "./db/queries.js";
import { toMessage } from "./mappers.js";
import type { RoomDirectory } from "./rooms.js";

export interface DispatcherDeps {
  db: q.MessagesDb;
  delivery: Client<typeof DeliveryService>;
  rooms: RoomDirectory;
  logger: Logger;
  /** How often the outbox is scanned for messages delivery has not confirmed. */
  intervalMs: number;
}

/** How long an outbox entry is leased to whoever is dispatching it. */
export const DISPATCH_LEASE_MS = 30_000;
const BATCH = 100;
const MAX_BACKOFF_MS = 30_000;

export interface Dispatcher {
  /** Hands a just-stored message to delivery; false when delivery could not take it now. */
  dispatch(message: Message, origin: string): Promise<boolean>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * Delivery of stored messages, inline first and then from the outbox: a message whose
 * dispatch failed (delivery or NATS down) stays in `mensajes_despacho_pendiente` and is
 * retried with backoff until delivery confirms it.
 */
export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { db, delivery, rooms, logger } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const dispatch = async (message: Message, origin: string, attempts = 1) => {
    try {
      await delivery.dispatch({ message, origin });
      await q.completeDispatch(db, message.id);
      return true;
    } catch (err) {
      const delay = Math.min(1000 * 2 ** Math.min(attempts - 1, 5), MAX_BACKOFF_MS);
      logger.warn({ mensajeId: String(message.id), attempts, retryInMs: delay, err: describeError(err) }, "[DISPATCH] delivery failed, will retry");
      await q.retryDispatchLater(db, message.id, delay).catch(() => {
        // The lease expires by itself; the next scan takes the entry again.
      });
      return false;
    }
  };

  const sweep = async () => {
    const due = await q.claimDueDispatches(db, BATCH, DISPATCH_LEASE_MS);
    if (due.length === 0) return;
    const stored = new Map((await q.getMessages(db, due.map((d) => d.mensajeId))).map((s) => [s.mensaje.id, s]));
    for (const entry of due) {
      if (stopped) return;
      const row = stored.get(entry.mensajeId);
      if (!row) {
        await q.completeDispatch(db, entry.mensajeId);
        continue;
      }
      const room = await rooms.get(row.mensaje.salaChatId);
      const message = create(MessageSchema, toMessage(row, room));
      if (await dispatch(message, entry.origen, entry.intentos + 1)) {
        logger.info({ mensajeId: String(entry.mensajeId), attempts: entry.intentos + 1 }, "[DISPATCH] delivered from outbox");
      }
    }
  };

  const loop = () => {
    timer = setTimeout(() => {
      running = sweep()
        .catch((err: unknown) => logger.warn({ err: describeError(err) }, "[DISPATCH] outbox scan failed"))
        .finally(() => {
          running = undefined;
          if (!stopped) loop();
        });
    }, deps.intervalMs);
  };

  return {
    dispatch: (message, origin) => dispatch(message, origin),
    start() {
      stopped = false;
      loop();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
