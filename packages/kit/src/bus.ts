import { context, SpanKind } from "@opentelemetry/api";
import { connect, Events, headers as natsHeaders, type NatsConnection, type Subscription as NatsSubscription } from "nats";
import type { Logger } from "pino";
import { unavailable } from "./errors.js";
import { contextFromHeaders, inSpan, traceHeaders } from "./tracing.js";

/** A live subscription; `unsubscribe` is idempotent. */
export interface BusSubscription {
  unsubscribe(): void;
}

/** One payload and the subjects it goes to. */
export interface BusEvent {
  subject: string | string[];
  payload: Uint8Array;
}

/** Publish/subscribe of binary (protobuf) payloads: NATS in production. */
export interface EventBus {
  /** True while messages can reach the broker. */
  readonly connected: boolean;
  /**
   * Publishes to one or more subjects and waits (once) until the broker has them all; throws
   * Unavailable when it cannot (disconnected, or no confirmation within the timeout).
   */
  publish(subject: string | string[], payload: Uint8Array): Promise<void>;
  /** Publishes several payloads, in order, and waits once for the broker to have them all. */
  publishAll(events: BusEvent[]): Promise<void>;
  /** Subscribes by subject (NATS wildcards allowed); survives reconnects. */
  subscribe(subject: string, handler: (payload: Uint8Array, subject: string) => void): BusSubscription;
  /** Flushes what is pending and closes. */
  close(): Promise<void>;
}

export interface NatsBusOptions {
  servers: string[];
  /** Connection name shown by the server's monitoring, e.g. "redup-delivery". */
  name: string;
  logger: Logger;
  /** How long a publish waits for the broker's confirmation. */
  publishTimeoutMs?: number;
}

/**
 * A NATS connection that never blocks start-up: it connects in the background, reconnects
 * forever, and reports `connected` so callers can answer Unavailable instead of hanging.
 */
export function createNatsBus(options: NatsBusOptions): EventBus {
  const { logger } = options;
  const publishTimeoutMs = options.publishTimeoutMs ?? 2000;
  let nc: NatsConnection | undefined;
  let connected = false;
  let closed = false;
  // Subscriptions asked for before the first connection are made once it exists.
  const wanted = new Map<object, { subject: string; handler: (p: Uint8Array, s: string) => void; sub?: NatsSubscription }>();

  const attach = (conn: NatsConnection, key: object) => {
    const entry = wanted.get(key);
    if (!entry || entry.sub) return;
    entry.sub = conn.subscribe(entry.subject, {
      callback: (err, msg) => {
        if (err) {
          logger.warn({ err: { message: err.message }, subject: entry.subject }, "[NATS] subscription error");
          return;
        }
        try {
          // The publisher's trace continues in the handler (W3C headers on the message).
          const parent = msg.headers ? contextFromHeaders((key) => msg.headers?.get(key) || undefined) : undefined;
          if (parent) context.with(parent, () => entry.handler(msg.data, msg.subject));
          else entry.handler(msg.data, msg.subject);
        } catch (handlerErr) {
          logger.error({ err: { message: (handlerErr as Error).message }, subject: msg.subject }, "[NATS] handler failed");
        }
      },
    });
  };

  const watchStatus = async (conn: NatsConnection) => {
    for await (const status of conn.status()) {
      if (status.type === Events.Disconnect) {
        connected = false;
        logger.warn({ server: status.data }, "[NATS] disconnected");
      } else if (status.type === Events.Reconnect) {
        connected = true;
        logger.info({ server: status.data }, "[NATS] reconnected");
      }
    }
  };

  const connectLoop = async () => {
    let delay = 250;
    while (!closed) {
      try {
        const conn = await connect({
          servers: options.servers,
          name: options.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          timeout: 2000,
          pingInterval: 10_000,
        });
        if (closed) {
          await conn.close();
          return;
        }
        nc = conn;
        connected = true;
        logger.info({ servers: options.servers }, "[NATS] connected");
        for (const key of wanted.keys()) attach(conn, key);
        void watchStatus(conn);
        void conn.closed().then(() => {
          connected = false;
        });
        return;
      } catch (err) {
        logger.warn({ err: { message: (err as Error).message }, retryInMs: delay }, "[NATS] cannot connect, retrying");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  };
  const ready = connectLoop();

  const publishNow = async (events: BusEvent[]): Promise<void> => {
    const conn = nc;
    if (!conn || !connected || conn.isClosed()) throw unavailable("the event bus (NATS) is unavailable");
    const carried = traceHeaders();
    let h: ReturnType<typeof natsHeaders> | undefined;
    if (carried) {
      h = natsHeaders();
      for (const [key, value] of Object.entries(carried)) h.set(key, value);
    }
    const options = h ? { headers: h } : undefined;
    for (const { subject, payload } of events) {
      for (const s of Array.isArray(subject) ? subject : [subject]) conn.publish(s, payload, options);
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        conn.flush(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(unavailable("the event bus (NATS) did not confirm in time")), publishTimeoutMs);
        }),
      ]);
    } catch (err) {
      throw unavailable("the event bus (NATS) is unavailable", err);
    } finally {
      clearTimeout(timer);
    }
  };


  return {
    get connected() {
      return connected;
    },
    publish(subject, payload) {
      const destination = Array.isArray(subject) ? subject.join(",") : subject;
      return inSpan("nats.publish", SpanKind.PRODUCER, { "messaging.system": "nats", "messaging.destination.name": destination }, () => publishNow([{ subject, payload }]));
    },
    publishAll(events) {
      if (events.length === 0) return Promise.resolve();
      return inSpan("nats.publish", SpanKind.PRODUCER, { "messaging.system": "nats", "messaging.batch.message_count": String(events.length) }, () => publishNow(events));
    },
    subscribe(subject, handler) {
      const key = {};
      wanted.set(key, { subject, handler });
      if (nc && !nc.isClosed()) attach(nc, key);
      return {
        unsubscribe() {
          const entry = wanted.get(key);
          wanted.delete(key);
          entry?.sub?.unsubscribe();
        },
      };
    },
    async close() {
      closed = true;
      await ready;
      if (nc && !nc.isClosed()) {
        // drain: finish delivering to our subscribers and flush what we published.
        await nc.drain().catch(() => nc?.close());
      }
      connected = false;
    },
  };
}
