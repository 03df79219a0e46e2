/**
 * The operators' view against reality: the real services and edges start in this process with
 * their metrics served, traffic goes through real Socket.IO clients (sends, joins, a refused
 * handshake, fallbacks while messages is unreachable, a fallback that NATS cannot carry,
 * rate-limited and overloaded bursts, a store queue that sheds, a live event that arrives out of
 * its room's order), then every /metrics is scraped and every query of the Grafana dashboard and
 * of the Prometheus rules is read with Prometheus's grammar: a metric, a label or a label value
 * that no service exported fails, naming the panel or the rule. The new gauges are checked for
 * the values that matter, and `redup_serving` for its fall to 0 when a service loses its
 * database. Negative controls make sure a rule naming what nobody exports fails.
 */
import { createLogger, createNatsBus, type EventBus, type RunningServer } from "@redup/kit";
import { coreTestEnv, createTestDatabase, freePort, startTcpProxy, waitFor, type TcpProxy, type TestDatabase } from "@redup/kit/testing";
import { loadConfig as deliveryConfig, startDelivery } from "@redup/delivery";
import { loadConfig as edgeConfig, startEdge, type EdgeServer } from "@redup/edge";
import { loadConfig as messagesConfig, startMessages } from "@redup/messages";
import {
  buildDashboard,
  catalogOf,
  checkQueries,
  dashboardQueries,
  parseExposition,
  readRules,
  recordedSeries,
  ruleQueries,
  RULES_FILE,
  type Catalog,
  type Exposition,
} from "@redup/monitoring";
import { loadConfig as roomsConfig, startRooms } from "@redup/rooms";
import { io, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const logger = createLogger({ service: "monitoring-test", level: "silent" });

let db: TestDatabase;
let env: Record<string, string>;
const services: Record<"rooms" | "messages" | "delivery", RunningServer> = {} as never;
/** a: the normal edge; b: messages unreachable, tight limits (fallbacks, refusals); c: messages and NATS unreachable. */
const edges: Record<"a" | "b" | "c", EdgeServer> = {} as never;
const sockets: Socket[] = [];
let spy: EventBus;
let expositions: Record<string, Exposition>;
/** What edge b's client was answered, by outcome (fallback or the refusal's code). */
const edgeB: Record<string, number> = {};
let catalog: Catalog;

const DB_POOL_MAX = 7;
const MAX_CONNECTIONS = 500;

function connect(edge: EdgeServer, query: Record<string, string>): Promise<Socket> {
  const socket = io(edge.url, { query, transports: ["websocket"], reconnection: false, forceNew: true });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${JSON.stringify(query)} did not connect`)), 10_000);
    socket.once("connected", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const send = (socket: Socket, to: number, text: string) => socket.timeout(15_000).emitWithAck("send_message", { to, type: "directo", message: text });

async function scrape(url: string): Promise<Exposition> {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  return parseExposition(await res.text());
}

const targets = () => ({
  rooms: `http://127.0.0.1:${services.rooms.metricsPort}/metrics`,
  messages: `http://127.0.0.1:${services.messages.metricsPort}/metrics`,
  delivery: `http://127.0.0.1:${services.delivery.metricsPort}/metrics`,
  "edge a": `${edges.a.url}/metrics`,
  "edge b": `${edges.b.url}/metrics`,
  "edge c": `${edges.c.url}/metrics`,
});

async function scrapeAll(): Promise<Record<string, Exposition>> {
  const entries = await Promise.all(Object.entries(targets()).map(async ([name, url]) => [name, await scrape(url)] as const));
  return Object.fromEntries(entries);
}

/** The value of one series of one scrape (labels given must match; others are ignored). */
function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  return exposition.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

beforeAll(async () => {
  db = await createTestDatabase("monitoring");
  env = coreTestEnv(db.url, { DB_POOL_MAX: String(DB_POOL_MAX), DISPATCH_RETRY_INTERVAL_MS: "200" });
  services.rooms = await startRooms(roomsConfig({ ...env, ROOMS_METRICS_PORT: "0" }), logger);
  env.ROOMS_URL = services.rooms.url;
  services.delivery = await startDelivery(deliveryConfig({ ...env, DELIVERY_METRICS_PORT: "0" }), logger);
  env.DELIVERY_URL = services.delivery.url;
  // One store lane holding one waiting send: a burst is shed (redup_shed_total{queue="store"}).
  services.messages = await startMessages(messagesConfig({ ...env, MESSAGES_METRICS_PORT: "0", STORE_LANES: "1", STORE_QUEUE_MAX: "1", SEND_BATCH_MAX: "2" }), logger);
  env.MESSAGES_URL = services.messages.url;
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  edges.a = await startEdge(edgeConfig({ ...env, PORT: "0", MAX_CONNECTIONS: String(MAX_CONNECTIONS), RATE_LIMIT_EVENT_BURST: "1000", RATE_LIMIT_EVENTS_PER_SEC: "1000", RATE_LIMIT_USER_EVENT_BURST: "1000", RATE_LIMIT_USER_EVENTS_PER_SEC: "1000" }), logger);
  edges.b = await startEdge(edgeConfig({ ...env, PORT: "0", MESSAGES_URL: nowhere, MAX_PENDING_EVENTS: "2", RATE_LIMIT_EVENT_BURST: "10", RATE_LIMIT_EVENTS_PER_SEC: "1" }), logger);
  edges.c = await startEdge(edgeConfig({ ...env, PORT: "0", MESSAGES_URL: nowhere, NATS_URL: `nats://127.0.0.1:${await freePort()}` }), logger);
  spy = createNatsBus({ servers: [env.NATS_URL!], name: "monitoring-test-spy", logger });
  await waitFor(() => spy.connected, 10_000, "the test's NATS connection");

  // --- traffic ---------------------------------------------------------------------------
  const prefix = env.NATS_SUBJECT_PREFIX!;
  const alice = await connect(edges.a, { user_id: "7001" });
  const bob = await connect(edges.a, { user_id: "7002" });
  // A refused handshake.
  await expect(connect(edges.a, {})).rejects.toThrow();
  // Bob's live events, as NATS carries them, to play one again out of order below.
  const seen: Uint8Array[] = [];
  const sub = spy.subscribe(`${prefix}.user.7002.message`, (payload) => seen.push(payload));
  const received: string[] = [];
  bob.on("receive_message", (m: { mensaje_id: string }) => received.push(m.mensaje_id));
  for (let i = 0; i < 6; i++) expect(await send(alice, 7002, `hola ${i}`)).toMatchObject({ status: "sent", saved_to_db: true });
  expect(await alice.timeout(10_000).emitWithAck("join_group", { group_id: 4711 })).toMatchObject({ status: "ok" });
  await waitFor(() => received.length === 6 && seen.length >= 6, 10_000, "bob's six messages");
  expect(await bob.timeout(10_000).emitWithAck("mark_delivered", { mensaje_id: received[0] })).toMatchObject({ status: "ok" });
  // The first message again: late for its room (redup_edge_room_order_total{outcome="late"});
  // the socket, which has it already, does not get it twice.
  await spy.publish(`${prefix}.user.7002.message`, seen[0]!);
  await waitFor(async () => value(await scrape(`${edges.a.url}/metrics`), "redup_edge_room_order_total", { outcome: "late" }) === 1, 10_000, "the replayed event");
  expect(received.length).toBe(6);
  sub.unsubscribe();
  // A burst from several users at once: the one-send store queue sheds some (OVERLOADED).
  const burst = await Promise.all(Array.from({ length: 4 }, (_, u) => connect(edges.a, { user_id: String(7100 + u) })));
  const burstAcks = await Promise.all(burst.flatMap((s, u) => Array.from({ length: 10 }, (_, i) => send(s, 7002, `burst ${u}.${i}`))));
  expect(burstAcks.some((a) => a.code === "OVERLOADED")).toBe(true);
  expect(burstAcks.some((a) => a.status === "sent")).toBe(true);
  // Edge b: messages unreachable, so sends are delivered live only (fallback); a burst past
  // its two pending events and its ten-event budget is refused OVERLOADED, then RATE_LIMITED.
  const carol = await connect(edges.b, { user_id: "7201" });
  const carolAcks = await Promise.all(Array.from({ length: 20 }, (_, i) => send(carol, 7002, `b ${i}`)));
  for (const ack of carolAcks) edgeB[ack.saved_to_db === false ? "fallback" : ack.code] = (edgeB[ack.saved_to_db === false ? "fallback" : ack.code] ?? 0) + 1;
  // At least the two sends it had room for; the rest refused at the door.
  expect(edgeB.fallback).toBeGreaterThanOrEqual(2);
  expect(edgeB.OVERLOADED).toBeGreaterThan(0);
  expect(edgeB.RATE_LIMITED).toBe(10);
  expect(edgeB.fallback! + edgeB.OVERLOADED! + edgeB.RATE_LIMITED).toBe(20);
  // Edge c: neither messages nor NATS: the fallback cannot be delivered either.
  const dave = await connect(edges.c, { user_id: "7301" });
  expect(await send(dave, 7002, "nadie")).toMatchObject({ status: "error", code: "SERVICE_UNAVAILABLE" });

  // Every hand-off done before the scrape (the outbox drains).
  await waitFor(async () => value(await scrape(targets().messages), "redup_outbox_backlog") === 0, 15_000, "an empty outbox");
  expositions = await scrapeAll();
  catalog = catalogOf(Object.values(expositions));
}, 120_000);

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  for (const edge of Object.values(edges)) await edge?.close();
  await spy?.close();
  for (const name of ["messages", "delivery", "rooms"] as const) await services[name]?.close();
  await db?.drop();
});

describe("the metrics the dashboard and the alerts rely on", () => {
  it("say every service is serving, with its pool's size, and connected to NATS", () => {
    for (const name of ["rooms", "messages", "delivery"] as const) {
      expect(value(expositions[name]!, "redup_serving", { service: name }), `${name} redup_serving`).toBe(1);
      expect(value(expositions[name]!, "redup_db_pool_max", { service: name }), `${name} redup_db_pool_max`).toBe(DB_POOL_MAX);
      expect(value(expositions[name]!, "redup_db_pool_connections", { state: "waiting" }), `${name} waiting`).toBe(0);
    }
    expect(value(expositions.messages!, "redup_nats_connected")).toBe(1);
    expect(value(expositions.delivery!, "redup_nats_connected")).toBe(1);
    // Rooms has no NATS connection, so no gauge to alert on.
    expect(value(expositions.rooms!, "redup_nats_connected")).toBeUndefined();
    expect(value(expositions.messages!, "redup_outbox_backlog")).toBe(0);
    expect(value(expositions.messages!, "redup_outbox_retrying")).toBe(0);
    expect(value(expositions.messages!, "redup_shed_total", { queue: "store" })).toBeGreaterThan(0);
  });

  it("count each edge's handshakes, sends to ACK, subscriptions, refusals and NATS state", () => {
    const a = expositions["edge a"]!;
    // alice, bob and the four burst users; one handshake without user_id refused.
    expect(value(a, "redup_edge_handshakes_total", { outcome: "ok" })).toBe(6);
    expect(value(a, "redup_edge_handshakes_total", { outcome: "USER_ID_REQUIRED" })).toBe(1);
    expect(value(a, "redup_edge_connected_sockets")).toBe(6);
    expect(value(a, "redup_edge_max_connections")).toBe(MAX_CONNECTIONS);
    // Six users and one group, one subject each.
    expect(value(a, "redup_edge_nats_subscriptions")).toBe(7);
    expect(value(a, "redup_edge_nats_connected")).toBe(1);
    // Every send edge a answered went through the histogram: 6 + the burst's 40.
    expect(value(a, "redup_edge_event_duration_seconds_count", { event: "send_message" })).toBe(46);
    expect(value(a, "redup_edge_event_duration_seconds_count", { event: "join_group" })).toBe(1);
    expect(value(a, "redup_edge_room_order_total", { outcome: "late" })).toBe(1);
    expect(value(a, "redup_edge_pending_events")).toBe(0);
    expect(value(a, "redup_edge_catch_up_waiting")).toBe(0);

    const b = expositions["edge b"]!;
    // What the client was answered is what the metrics count.
    expect(value(b, "redup_edge_events_total", { event: "send_message", outcome: "fallback" })).toBe(edgeB.fallback);
    expect(value(b, "redup_edge_events_total", { event: "send_message", outcome: "OVERLOADED" })).toBe(edgeB.OVERLOADED);
    expect(value(b, "redup_edge_events_total", { event: "send_message", outcome: "RATE_LIMITED" })).toBe(10);
    expect(value(b, "redup_edge_shed_total", { queue: "events" })).toBe(edgeB.OVERLOADED);
    expect(value(b, "redup_edge_max_pending_events")).toBe(2);
    // Only the sends that ran waited for an answer; refusals at the door are not timed.
    expect(value(b, "redup_edge_event_duration_seconds_count", { event: "send_message" })).toBe(edgeB.fallback);

    const c = expositions["edge c"]!;
    expect(value(c, "redup_edge_nats_connected")).toBe(0);
    expect(value(c, "redup_edge_nats_errors_total", { kind: "publish" })).toBe(1);
  });
});

describe("the dashboard and the rules, against every service's /metrics", () => {
  const rules = readRules(RULES_FILE);

  it("name only metrics, labels and label values that the services export", () => {
    const queries = [...dashboardQueries(buildDashboard()), ...ruleQueries(rules)];
    expect(queries.length).toBeGreaterThan(40);
    expect(checkQueries(queries, catalog, recordedSeries(rules))).toEqual([]);
  });

  it("negative controls: a rule naming a metric, a label or a value nobody exports fails, named", () => {
    const broken = {
      groups: [
        ...rules.groups,
        {
          name: "broken",
          rules: [
            { alert: "Nobody", expr: "rate(redup_nobody_total[5m]) > 0" },
            { alert: "WrongLabel", expr: 'redup_serving{svc="rooms"} == 0' },
            { alert: "WrongValue", expr: 'sum(rate(redup_edge_events_total{outcome="SAVED"}[5m])) > 0' },
            { alert: "WrongGrouping", expr: "sum by (pool) (redup_db_pool_max) > 0" },
            { record: "redup:typo:rate5m", expr: "sum(rate(redup_edge_event_duration_seconds[5m]))" },
          ],
        },
      ],
    };
    const problems = checkQueries(ruleQueries(broken), catalog, recordedSeries(broken));
    expect(problems).toEqual([
      "alert Nobody: no service exports redup_nobody_total",
      'alert WrongLabel: redup_serving has no label "svc" (in svc="rooms")',
      expect.stringMatching(/^alert WrongValue: redup_edge_events_total\{outcome="SAVED"\}: no service exported that value \(seen: .*fallback.*\)$/),
      'alert WrongGrouping: by (pool): no series of redup_db_pool_max has a label "pool"',
      // A histogram is stored as _bucket, _sum and _count, never under its own name.
      "recording rule redup:typo:rate5m: no service exports redup_edge_event_duration_seconds",
    ]);
  });
});

describe("redup_serving", () => {
  let proxy: TcpProxy | undefined;
  let rooms: RunningServer | undefined;
  afterAll(async () => {
    await proxy?.restore().catch(() => {});
    await rooms?.close();
    await proxy?.close();
  });

  it("falls to 0 while a service's database is away, and comes back", async () => {
    const target = new URL(db.url);
    proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    rooms = await startRooms(roomsConfig({ ...env, DATABASE_URL: viaProxy.toString(), ROOMS_PORT: "0", ROOMS_METRICS_PORT: "0" }), logger);
    const serving = async () => value(await scrape(`http://127.0.0.1:${rooms!.metricsPort}/metrics`), "redup_serving");
    expect(await serving()).toBe(1);
    await proxy.cut();
    await waitFor(async () => (await serving()) === 0, 15_000, "redup_serving 0 without the database");
    await proxy.restore();
    await waitFor(async () => (await serving()) === 1, 15_000, "redup_serving 1 with the database back");
  });
});
