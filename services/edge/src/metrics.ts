import type { Interceptor } from "@connectrpc/connect";
import { latencyInterceptor } from "@redup/kit";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The edge's Prometheus metrics, on a registry of its own (several edges may share a process). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "redup_edge_" });
  return {
    registry,
    sockets: new Gauge({ name: "redup_edge_connected_sockets", help: "Sockets connected to this edge", registers: [registry] }),
    events: new Counter({
      name: "redup_edge_events_total",
      help: "Client events handled, by event name and outcome (ok, error code, or fallback)",
      labelNames: ["event", "outcome"] as const,
      registers: [registry],
    }),
    rpc: new Histogram({
      name: "redup_edge_service_call_duration_seconds",
      help: "Latency of calls to the gRPC services, by service, method and status code",
      labelNames: ["service", "method", "code"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    natsReceived: new Counter({
      name: "redup_edge_nats_messages_received_total",
      help: "NATS events received by this edge, by kind (user.message, group.message, user.receipt)",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    natsErrors: new Counter({
      name: "redup_edge_nats_errors_total",
      help: "NATS failures: publish (fallback not published) and decode (bad payload)",
      labelNames: ["kind"] as const,
      registers: [registry],
    }),
    sendBatch: new Histogram({
      name: "redup_edge_send_batch_size",
      help: "Messages per SendMessages call (sends gathered while earlier calls were in flight)",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers: [registry],
    }),
    roomOrder: new Counter({
      name: "redup_edge_room_order_total",
      help: "Live messages that did not arrive in their room's order: held for an earlier one, late (delivered as they came), gaps filled from the messages service, gaps left to catch-up",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    shed: new Counter({
      name: "redup_edge_shed_total",
      help: "Client events refused as OVERLOADED because a queue on their way was full or late, by queue (events: the edge's backlog; arrival: refused on arrival, the send queue running behind; wait: their turn came past their deadline; send, mark: in those queues)",
      labelNames: ["queue"] as const,
      registers: [registry],
    }),
    catchUp: new Counter({
      name: "redup_edge_catch_up_messages_total",
      help: "Pending messages replayed to connecting sockets",
      registers: [registry],
    }),
    handshakes: new Counter({
      name: "redup_edge_handshakes_total",
      help: "Socket.IO handshakes, by outcome: ok, or the refusal's code (SERVER_FULL, TOO_MANY_CONNECTIONS, UNAUTHORIZED, USER_ID_REQUIRED...)",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    eventDuration: new Histogram({
      name: "redup_edge_event_duration_seconds",
      help: "Time from a client event's arrival to its answer (for send_message: send to ACK), waiting included, by event",
      labelNames: ["event"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The parts of a running edge whose state the gauges below read on each scrape. */
export interface EdgeGaugeSources {
  bus: { readonly connected: boolean };
  fanout: { readonly subscriptionCount: number };
  catchUpTurns: { readonly waiting: number; readonly active: number };
  inflight: { count: number };
  maxConnections: number;
  maxPendingEvents: number;
  sendLimit: { readonly limit: number; readonly active: number };
}

/** Registers the gauges read from the edge's parts, once they exist. */
export function watchEdge(metrics: Metrics, from: EdgeGaugeSources): void {
  const registers = [metrics.registry];
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  gauge("redup_edge_nats_connected", "1 while this edge's NATS connection is up, else 0 (no live events arrive; sends are still stored)", () => (from.bus.connected ? 1 : 0));
  gauge("redup_edge_nats_subscriptions", "NATS subjects this edge is subscribed to (one per user and group it holds sockets for)", () => from.fanout.subscriptionCount);
  gauge("redup_edge_catch_up_waiting", "Connected sockets waiting for their turn to replay pending messages (CATCH_UP_CONCURRENCY replay at once)", () => from.catchUpTurns.waiting);
  gauge("redup_edge_catch_up_active", "Sockets replaying pending messages now", () => from.catchUpTurns.active);
  gauge("redup_edge_pending_events", "Client events in progress on this edge, all sockets together (refused OVERLOADED past MAX_PENDING_EVENTS)", () => from.inflight.count);
  gauge("redup_edge_max_pending_events", "MAX_PENDING_EVENTS: the most client events in progress before new ones are refused OVERLOADED", () => from.maxPendingEvents);
  gauge("redup_edge_sends_in_progress", "Sends between their turn and their answer on this edge", () => from.sendLimit.active);
  gauge("redup_edge_send_limit", "The adaptive bound on sends in progress (SEND_LATENCY_TARGET_MS): lower while sends answer late, up to MAX_PENDING_EVENTS", () => from.sendLimit.limit);
  gauge("redup_edge_max_connections", "MAX_CONNECTIONS: the most sockets this edge accepts before refusing SERVER_FULL", () => from.maxConnections);
}

/** Observes every service call's latency and outcome. */
export const rpcMetricsInterceptor = (metrics: Metrics): Interceptor =>
  latencyInterceptor(metrics.rpc, (req) => ({ service: req.service.name, method: req.method.name }));
