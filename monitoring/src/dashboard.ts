import type * as cog from "@grafana/grafana-foundation-sdk/cog";
import * as common from "@grafana/grafana-foundation-sdk/common";
import { DashboardBuilder, DatasourceVariableBuilder, RowBuilder, ThresholdsConfigBuilder, ThresholdsMode, type Dashboard, type Panel } from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as StatPanel } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TimeseriesPanel } from "@grafana/grafana-foundation-sdk/timeseries";

/** The dashboard's uid: stable, so links and provisioning keep pointing at it. */
export const DASHBOARD_UID = "redup-chat";

/** Every panel reads the Prometheus chosen in the `datasource` variable. */
const DATASOURCE: common.DataSourceRef = { type: "prometheus", uid: "${datasource}" };
const R = "$__rate_interval";

interface Query {
  expr: string;
  legend: string;
}

const target = ({ expr, legend }: Query, i: number) =>
  new DataqueryBuilder()
    .expr(expr)
    .legendFormat(legend)
    .range()
    .refId(String.fromCharCode(65 + i));

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  /** Grid width (of 24); 12 by default. */
  span?: number;
  stacked?: boolean;
}

function timeseries(spec: PanelSpec): cog.Builder<Panel> {
  const panel = new TimeseriesPanel()
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .min(0)
    .height(8)
    .span(spec.span ?? 12)
    .fillOpacity(spec.stacked ? 40 : 10)
    .lineWidth(1)
    .stacking(new common.StackingConfigBuilder().mode(spec.stacked ? common.StackingMode.Normal : common.StackingMode.None))
    .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
  spec.queries.forEach((q, i) => panel.withTarget(target(q, i)));
  return panel;
}

function stat(title: string, description: string, unit: string, query: Query, thresholds: [number, string][] = []) {
  const steps = [{ value: null as unknown as number, color: "green" }, ...thresholds.map(([value, color]) => ({ value, color }))];
  return new StatPanel()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .height(4)
    .span(4)
    .thresholds(new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps))
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .withTarget(target(query, 0));
}

/** A histogram's quantile over every instance, by the given labels. */
const quantile = (q: number, bucket: string, by: string[] = [], filter = "") =>
  `histogram_quantile(${q}, sum by (${["le", ...by].join(", ")}) (rate(${bucket}${filter ? `{${filter}}` : ""}[${R}])))`;

/**
 * The RedUP Chat dashboard: one row per part of a message's path (the edge's connections, the
 * sends and their ACKs, the services' RPCs and batches, the database and the outbox, NATS),
 * then overload and the processes. Every query names only metrics the services export
 * (tests/test/monitoring.test.ts checks them against a running stack).
 */
export function buildDashboard(): Dashboard {
  const dashboard = new DashboardBuilder("RedUP Chat")
    .uid(DASHBOARD_UID)
    .description("RedUP Chat's edges and services: connections, sends and ACKs, RPC latency, batches, database pool, outbox, NATS, overload and processes. Runbooks: docs/operations.md.")
    .tags(["redup-chat"])
    .editable()
    .refresh("30s")
    .time({ from: "now-1h", to: "now" })
    .timezone("browser")
    .withVariable(new DatasourceVariableBuilder("datasource").label("Data source").type("prometheus"));

  dashboard
    .withRow(new RowBuilder("Overview"))
    .withPanel(
      stat("Services not serving", "gRPC services whose grpc.health.v1 answers NOT_SERVING now (redup_serving == 0). Alert: RedupServiceNotServing.", "none", { expr: "count(redup_serving == 0) or vector(0)", legend: "not serving" }, [[1, "red"]]),
    )
    .withPanel(stat("Connected sockets", "Sockets held by every edge together.", "short", { expr: "sum(redup_edge_connected_sockets)", legend: "sockets" }))
    .withPanel(stat("Sends / s", "send_message events answered per second, every outcome.", "reqps", { expr: `sum(rate(redup_edge_events_total{event="send_message"}[${R}]))`, legend: "sends" }))
    .withPanel(
      stat("ACK p99", "Time from a send_message's arrival at the edge to its ACK, 99th percentile over every edge. Alert over 500 ms: RedupAckLatencyHigh.", "s", { expr: quantile(0.99, "redup_edge_event_duration_seconds_bucket", [], 'event="send_message"'), legend: "p99" }, [
        [0.1, "yellow"],
        [0.5, "red"],
      ]),
    )
    .withPanel(
      stat("Fallback ACKs / s", "Sends ACKed saved_to_db=false: delivered live but NOT stored (messages or its database unreachable). Alert: RedupFallbackAcks.", "reqps", { expr: `sum(rate(redup_edge_events_total{event="send_message", outcome="fallback"}[${R}])) or vector(0)`, legend: "fallback" }, [[0.0001, "red"]]),
    )
    .withPanel(
      stat("Outbox backlog", "Stored messages whose hand-off (recipients, live event) has not completed. Alert: RedupOutboxBacklogGrowing.", "short", { expr: "max(redup_outbox_backlog)", legend: "backlog" }, [
        [100, "yellow"],
        [1000, "red"],
      ]),
    );

  dashboard
    .withRow(new RowBuilder("Edge: connections"))
    .withPanel(
      timeseries({
        title: "Connected sockets per edge",
        description: "Sockets each edge holds, and its MAX_CONNECTIONS cap (handshakes past it are refused SERVER_FULL). Alert at 80 %: RedupEdgeConnectionsNearCap.",
        unit: "short",
        queries: [
          { expr: "redup_edge_connected_sockets", legend: "{{instance}}" },
          { expr: "redup_edge_max_connections", legend: "cap {{instance}}" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Handshakes by outcome",
        description: "Socket.IO handshakes per second: ok, or the refusal's code (SERVER_FULL, TOO_MANY_CONNECTIONS, UNAUTHORIZED, USER_ID_REQUIRED, SERVICE_UNAVAILABLE...).",
        unit: "reqps",
        stacked: true,
        queries: [{ expr: `sum by (outcome) (rate(redup_edge_handshakes_total[${R}]))`, legend: "{{outcome}}" }],
      }),
    )
    .withPanel(
      timeseries({
        title: "Catch-up",
        description: "Connecting sockets waiting for their catch-up turn (CATCH_UP_CONCURRENCY replay at once; the rest wait with their live messages buffered), sockets replaying now, and pending messages replayed per second.",
        unit: "short",
        queries: [
          { expr: "sum(redup_edge_catch_up_waiting)", legend: "waiting for a turn" },
          { expr: "sum(redup_edge_catch_up_active)", legend: "replaying" },
          { expr: `sum(rate(redup_edge_catch_up_messages_total[${R}]))`, legend: "messages replayed / s" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "NATS subscriptions per edge",
        description: "Subjects each edge subscribes to: one per user and per group it holds sockets for.",
        unit: "short",
        queries: [{ expr: "redup_edge_nats_subscriptions", legend: "{{instance}}" }],
      }),
    );

  dashboard
    .withRow(new RowBuilder("Sends, receives and ACKs"))
    .withPanel(
      timeseries({
        title: "send_message ACKs by outcome",
        description: "saved: stored, ACKed saved_to_db=true. fallback: not stored, delivered live only (saved_to_db=false). Anything else: refused with that code (nothing stored).",
        unit: "reqps",
        stacked: true,
        queries: [{ expr: `sum by (outcome) (label_replace(rate(redup_edge_events_total{event="send_message"}[${R}]), "outcome", "saved", "outcome", "ok"))`, legend: "{{outcome}}" }],
      }),
    )
    .withPanel(
      timeseries({
        title: "send → ACK latency",
        description: "Time from a send_message's arrival at the edge to its ACK, waiting included, over every edge. The target is p99 ≤ 100 ms; RedupAckLatencyHigh fires over 500 ms.",
        unit: "s",
        queries: [0.5, 0.9, 0.99].map((q) => ({ expr: quantile(q, "redup_edge_event_duration_seconds_bucket", [], 'event="send_message"'), legend: `p${q * 100}` })),
      }),
    )
    .withPanel(
      timeseries({
        title: "Receives",
        description: "Live events the edges received from NATS, by kind (each is then written to every socket of its user or group), and pending messages replayed by catch-up.",
        unit: "reqps",
        queries: [
          { expr: `sum by (kind) (rate(redup_edge_nats_messages_received_total[${R}]))`, legend: "{{kind}}" },
          { expr: `sum(rate(redup_edge_catch_up_messages_total[${R}]))`, legend: "catch-up" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Other client events by outcome",
        description: "join_group, mark_delivered, get_history... per second, by event and outcome (ok or the refusal's code).",
        unit: "reqps",
        queries: [{ expr: `sum by (event, outcome) (rate(redup_edge_events_total{event!="send_message"}[${R}]))`, legend: "{{event}} {{outcome}}" }],
      }),
    )
    .withPanel(
      timeseries({
        title: "Client event latency p99 by event",
        description: "Arrival to answer, 99th percentile, for every client event.",
        unit: "s",
        queries: [{ expr: quantile(0.99, "redup_edge_event_duration_seconds_bucket", ["event"]), legend: "{{event}}" }],
      }),
    )
    .withPanel(
      timeseries({
        title: "Live messages out of room order",
        description: "Live messages that reached an edge before an earlier one of their room: held, late, gaps filled from messages, gaps left to catch-up.",
        unit: "reqps",
        queries: [{ expr: `sum by (outcome) (rate(redup_edge_room_order_total[${R}]))`, legend: "{{outcome}}" }],
      }),
    );

  dashboard
    .withRow(new RowBuilder("RPCs"))
    .withPanel(
      timeseries({
        title: "RPC latency p99 by method (served)",
        description: "What each gRPC service takes to answer, by method, 99th percentile over its replicas.",
        unit: "s",
        queries: [{ expr: quantile(0.99, "redup_rpc_duration_seconds_bucket", ["service", "method"]), legend: "{{service}} {{method}}" }],
      }),
    )
    .withPanel(
      timeseries({
        title: "RPC latency p99 by method (as the edges see it)",
        description: "The edges' calls to the services, network included, by service and method.",
        unit: "s",
        queries: [{ expr: quantile(0.99, "redup_edge_service_call_duration_seconds_bucket", ["service", "method"]), legend: "{{service}} {{method}}" }],
      }),
    )
    .withPanel(
      timeseries({
        title: "RPCs by status code",
        description: "Calls served per second by service and status (ok, InvalidArgument, Unavailable, ResourceExhausted...).",
        unit: "reqps",
        queries: [{ expr: `sum by (service, code) (rate(redup_rpc_duration_seconds_count[${R}]))`, legend: "{{service}} {{code}}" }],
      }),
    )
    .withPanel(
      timeseries({
        title: "RPC errors by method",
        description: "Calls served per second that did not end ok, by service, method and code.",
        unit: "reqps",
        queries: [{ expr: `sum by (service, method, code) (rate(redup_rpc_duration_seconds_count{code!="ok"}[${R}]))`, legend: "{{service}} {{method}} {{code}}" }],
      }),
    );

  dashboard
    .withRow(new RowBuilder("Batches"))
    .withPanel(
      timeseries({
        title: "Mean batch size",
        description: "Rows per batch: store (one statement and commit), dispatch (one DispatchMany), outbox sweeps and cleanups; and the edges' SendMessages calls. Batches grow with load.",
        unit: "short",
        queries: [
          { expr: `sum by (kind) (rate(redup_batch_size_sum[${R}])) / sum by (kind) (rate(redup_batch_size_count[${R}]))`, legend: "{{kind}}" },
          { expr: `sum(rate(redup_edge_send_batch_size_sum[${R}])) / sum(rate(redup_edge_send_batch_size_count[${R}]))`, legend: "edge SendMessages" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Batch size p99",
        description: "99th percentile of rows per batch, by kind.",
        unit: "short",
        queries: [
          { expr: quantile(0.99, "redup_batch_size_bucket", ["kind"]), legend: "{{kind}}" },
          { expr: quantile(0.99, "redup_edge_send_batch_size_bucket"), legend: "edge SendMessages" },
        ],
      }),
    );

  dashboard
    .withRow(new RowBuilder("Database and outbox"))
    .withPanel(
      timeseries({
        title: "Database pool",
        description: "Connections in use and queries waiting for one, by service, against DB_POOL_MAX. Waiting queries at every evaluation for 2 minutes: RedupDbPoolExhausted.",
        unit: "short",
        queries: [
          { expr: 'sum by (service) (redup_db_pool_connections{state="total"}) - sum by (service) (redup_db_pool_connections{state="idle"})', legend: "in use {{service}}" },
          { expr: 'sum by (service) (redup_db_pool_connections{state="waiting"})', legend: "waiting {{service}}" },
          { expr: "sum by (service) (redup_db_pool_max)", legend: "max {{service}}" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Outbox",
        description: "Stored messages whose hand-off (recipients, then live event) has not completed, and those the outbox sweep had to retry. Alert: RedupOutboxBacklogGrowing.",
        unit: "short",
        queries: [
          { expr: "max(redup_outbox_backlog)", legend: "backlog" },
          { expr: "max(redup_outbox_retrying)", legend: "retrying" },
        ],
      }),
    );

  dashboard
    .withRow(new RowBuilder("NATS"))
    .withPanel(
      timeseries({
        title: "NATS connected",
        description: "1 while a process's NATS connection is up. Alert: RedupNatsDisconnected.",
        unit: "bool",
        queries: [
          { expr: "redup_nats_connected", legend: "{{service}} {{instance}}" },
          { expr: "redup_edge_nats_connected", legend: "edge {{instance}}" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "NATS errors",
        description: "Events the services could not publish (left to the outbox's retry), and the edges' failures: publish (a fallback not published) and decode.",
        unit: "reqps",
        queries: [
          { expr: `sum by (service) (rate(redup_nats_publish_errors_total[${R}]))`, legend: "publish {{service}}" },
          { expr: `sum by (kind) (rate(redup_edge_nats_errors_total[${R}]))`, legend: "edge {{kind}}" },
        ],
      }),
    );

  dashboard
    .withRow(new RowBuilder("Overload and limits"))
    .withPanel(
      timeseries({
        title: "Rate-limit and overload refusals",
        description: "Client events refused RATE_LIMITED (a connection's or user's budget, or 64 waiting on one socket) or OVERLOADED (the edge's backlog full, its send limit reached, or a wait past MAX_EVENT_WAIT_MS), by event.",
        unit: "reqps",
        stacked: true,
        queries: [{ expr: `sum by (event, outcome) (rate(redup_edge_events_total{outcome=~"RATE_LIMITED|OVERLOADED"}[${R}]))`, legend: "{{event}} {{outcome}}" }],
      }),
    )
    .withPanel(
      timeseries({
        title: "Work shed by queue",
        description: "Work refused early because a queue was full or late: the edges' (events: backlog full; arrival and limit: the adaptive send limit or a send queue running behind; wait: past MAX_EVENT_WAIT_MS; send, mark) and the services' (store: ResourceExhausted; handoff: left to the outbox).",
        unit: "reqps",
        stacked: true,
        queries: [
          { expr: `sum by (queue) (rate(redup_edge_shed_total[${R}]))`, legend: "edge {{queue}}" },
          { expr: `sum by (service, queue) (rate(redup_shed_total[${R}]))`, legend: "{{service}} {{queue}}" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Edge backlog",
        description: "Client events in progress on each edge, against MAX_PENDING_EVENTS (past it, new events are refused OVERLOADED).",
        unit: "short",
        queries: [
          { expr: "redup_edge_pending_events", legend: "{{instance}}" },
          { expr: "redup_edge_max_pending_events", legend: "cap {{instance}}" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Edge send limit",
        description: "Sends in progress on each edge against its adaptive limit: the limit drops while more than a tenth of sends answer later than SEND_LATENCY_TARGET_MS (new sends past it are refused OVERLOADED) and climbs back to MAX_PENDING_EVENTS while they answer in time.",
        unit: "short",
        queries: [
          { expr: "redup_edge_sends_in_progress", legend: "{{instance}}" },
          { expr: "redup_edge_send_limit", legend: "limit {{instance}}" },
        ],
      }),
    );

  dashboard
    .withRow(new RowBuilder("Processes"))
    .withPanel(
      timeseries({
        title: "Event-loop lag p99",
        description: "How late each process's event loop runs, 99th percentile. Alert over 200 ms: RedupEventLoopLag.",
        unit: "s",
        span: 8,
        queries: [
          { expr: "redup_nodejs_eventloop_lag_p99_seconds", legend: "{{service}} {{instance}}" },
          { expr: "redup_edge_nodejs_eventloop_lag_p99_seconds", legend: "edge {{instance}}" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "Resident memory",
        description: "RSS of each process.",
        unit: "bytes",
        span: 8,
        queries: [
          { expr: "redup_process_resident_memory_bytes", legend: "{{service}} {{instance}}" },
          { expr: "redup_edge_process_resident_memory_bytes", legend: "edge {{instance}}" },
        ],
      }),
    )
    .withPanel(
      timeseries({
        title: "CPU",
        description: "CPU seconds per second of each process (1 = one core).",
        unit: "short",
        span: 8,
        queries: [
          { expr: `rate(redup_process_cpu_seconds_total[${R}])`, legend: "{{service}} {{instance}}" },
          { expr: `rate(redup_edge_process_cpu_seconds_total[${R}])`, legend: "edge {{instance}}" },
        ],
      }),
    );

  const built = dashboard.build();
  // Grafana wants a unique id per panel (rows included).
  (built.panels ?? []).forEach((panel, i) => {
    panel.id = i + 1;
  });
  return built;
}

/** Every query of a dashboard, with the panel it belongs to. */
export function dashboardQueries(dashboard: { panels?: unknown[] }): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const visit = (panels: unknown[] | undefined) => {
    for (const panel of (panels ?? []) as { title?: string; targets?: { expr?: string }[]; panels?: unknown[] }[]) {
      for (const t of panel.targets ?? []) if (t.expr) out.push({ where: `dashboard panel "${panel.title}"`, expr: t.expr });
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}
