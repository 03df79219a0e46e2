import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The Prometheus metrics of one gRPC service, on a registry of its own. */
export function createServiceMetrics(service: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: "redup_" });
  return {
    registry,
    rpc: new Histogram({
      name: "redup_rpc_duration_seconds",
      help: "Latency of the RPCs this service served, by method and status code",
      labelNames: ["method", "code"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    dbPool: new Gauge({
      name: "redup_db_pool_connections",
      help: "Database pool connections by state (total, idle, waiting clients)",
      labelNames: ["state"] as const,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "redup_batch_size",
      help: "Rows handled per batch, by batch kind (e.g. outbox sweep, outbox cleanup)",
      labelNames: ["kind"] as const,
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
    shed: new Counter({
      name: "redup_shed_total",
      help: "Work refused early (ResourceExhausted) or left to a retry because a queue was full, by queue",
      labelNames: ["queue"] as const,
      registers: [registry],
    }),
    natsPublishErrors: new Counter({
      name: "redup_nats_publish_errors_total",
      help: "Events that could not be published on NATS",
      registers: [registry],
    }),
    serving: new Gauge({
      name: "redup_serving",
      help: "1 while grpc.health.v1 answers SERVING (its database, and for delivery NATS, answers; not shutting down), else 0; read on each scrape",
      registers: [registry],
    }),
    dbPoolMax: new Gauge({
      name: "redup_db_pool_max",
      help: "Most connections the database pool opens (DB_POOL_MAX)",
      registers: [registry],
    }),
  };
}

export type ServiceMetrics = ReturnType<typeof createServiceMetrics>;

/**
 * `redup_nats_connected`: 1 while the service's NATS connection is up, read on each scrape.
 * Registered only by the services that publish on NATS (messages, delivery).
 */
export function watchBus(metrics: ServiceMetrics, bus: { readonly connected: boolean }): void {
  new Gauge({
    name: "redup_nats_connected",
    help: "1 while this service's NATS connection is up, else 0 (live events then wait in the outbox, or are not published)",
    registers: [metrics.registry],
    collect() {
      this.set(bus.connected ? 1 : 0);
    },
  });
}

/** What `watchOutbox` reads on each scrape. */
export interface OutboxBacklog {
  /** Stored messages whose hand-off (recipients, live event) has not completed yet. */
  pending: number;
  /** Of those, the ones the outbox sweep has had to take over at least once. */
  retrying: number;
}

/**
 * `redup_outbox_backlog` and `redup_outbox_retrying`, read by `read` (one cheap query) on
 * each scrape. When it fails (the database is down) the two series are absent from that
 * scrape rather than stale; `redup_serving` says why.
 */
export function watchOutbox(metrics: ServiceMetrics, read: () => Promise<OutboxBacklog>): void {
  // Both gauges come from one read per scrape (their collects run together).
  let last: { at: number; backlog: Promise<OutboxBacklog | undefined> } | undefined;
  const current = () => {
    if (!last || performance.now() - last.at > 1000) last = { at: performance.now(), backlog: read().catch(() => undefined) };
    return last.backlog;
  };
  const gauge = (name: string, help: string, pick: (b: OutboxBacklog) => number) =>
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      async collect() {
        const backlog = await current();
        if (backlog) this.set(pick(backlog));
        else this.reset();
      },
    });
  gauge("redup_outbox_backlog", "Stored messages whose hand-off (recipients, then the live event) has not completed yet, shared by every messages replica", (b) => b.pending);
  gauge("redup_outbox_retrying", "Outbox entries whose hand-off failed or was abandoned and that the outbox sweep has taken over at least once", (b) => b.retrying);
}

/**
 * Observes each call's latency and status code into a histogram labelled with `code` plus
 * what `labels` derives from the call (method, service...). Serves servers and clients alike.
 */
export function latencyInterceptor<L extends string>(
  histogram: Histogram<L | "code">,
  labels: (req: { service: { name: string }; method: { name: string } }) => Partial<Record<L, string>>,
): Interceptor {
  return (next) => async (req) => {
    const end = histogram.startTimer(labels(req) as Partial<Record<L | "code", string>>);
    try {
      const res = await next(req);
      end({ code: "ok" } as Partial<Record<L | "code", string>>);
      return res;
    } catch (err) {
      end({ code: Code[ConnectError.from(err).code] ?? "unknown" } as Partial<Record<L | "code", string>>);
      throw err;
    }
  };
}

/** Observes every served RPC's latency by method and status code. */
export const rpcMetrics = (metrics: ServiceMetrics): Interceptor => latencyInterceptor(metrics.rpc, (req) => ({ method: req.method.name }));

/** Serves GET /metrics on its own HTTP/1.1 port (Prometheus does not speak h2c). */
export async function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
  beforeCollect: () => void | Promise<void> = () => {},
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    Promise.resolve()
      .then(beforeCollect)
      .then(() => registry.metrics())
      .then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
