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
      help: "Client events refused as OVERLOADED because a queue on their way was full, by queue (events: the edge's backlog; send, mark)",
      labelNames: ["queue"] as const,
      registers: [registry],
    }),
    catchUp: new Counter({
      name: "redup_edge_catch_up_messages_total",
      help: "Pending messages replayed to connecting sockets",
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Observes every service call's latency and outcome. */
export const rpcMetricsInterceptor = (metrics: Metrics): Interceptor =>
  latencyInterceptor(metrics.rpc, (req) => ({ service: req.service.name, method: req.method.name }));
