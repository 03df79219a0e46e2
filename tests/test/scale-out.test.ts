/**
 * Scale-out: two replicas of rooms, messages and delivery (each spreading its calls over
 * the other services' replicas) and two edges, all on one database and NATS. Members of one
 * busy group, spread over both edges, send at once through both edges and so through both
 * messages replicas; every member must receive every message once, in one order — the
 * order of mensaje_id, which is the order of get_history.
 */
import { createLogger, type RunningServer } from "@redup/kit";
import { coreTestEnv, createTestDatabase, freePort, type TestDatabase } from "@redup/kit/testing";
import { loadConfig as deliveryConfig, startDelivery } from "@redup/delivery";
import { loadConfig as edgeConfig, startEdge, type EdgeServer } from "@redup/edge";
import { loadConfig as messagesConfig, startMessages } from "@redup/messages";
import { loadConfig as roomsConfig, startRooms } from "@redup/rooms";
import { io, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const logger = createLogger({ service: "scale-out-test", level: "silent" });
const REPLICAS = 2;
const MEMBERS = 12;
const SENDERS = 8;
const PER_SENDER = 50;
const GROUP = 4242;

let db: TestDatabase;
const servers: RunningServer[] = [];
const messagesReplicas: RunningServer[] = [];
const edges: EdgeServer[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  db = await createTestDatabase("scale_out");
  const ports = { rooms: [] as number[], messages: [] as number[], delivery: [] as number[] };
  for (const service of ["rooms", "messages", "delivery"] as const) {
    for (let i = 0; i < REPLICAS; i++) ports[service].push(await freePort());
  }
  const urls = (list: number[]) => list.map((p) => `http://127.0.0.1:${p}`).join(",");
  // Every caller knows every replica of the services it calls.
  const env = coreTestEnv(db.url, {
    ROOMS_URL: urls(ports.rooms),
    MESSAGES_URL: urls(ports.messages),
    DELIVERY_URL: urls(ports.delivery),
    DISPATCH_RETRY_INTERVAL_MS: "200",
  });
  for (let i = 0; i < REPLICAS; i++) servers.push(await startRooms(roomsConfig({ ...env, ROOMS_PORT: String(ports.rooms[i]) }), logger));
  for (let i = 0; i < REPLICAS; i++) servers.push(await startDelivery(deliveryConfig({ ...env, DELIVERY_PORT: String(ports.delivery[i]) }), logger));
  // Small store batches, several at once: the replicas' stores of one room interleave.
  for (let i = 0; i < REPLICAS; i++)
    messagesReplicas.push(
      await startMessages(messagesConfig({ ...env, MESSAGES_PORT: String(ports.messages[i]), MESSAGES_METRICS_PORT: "0", SEND_BATCH_MAX: "4", STORE_LANES: "4" }), logger),
    );
  servers.push(...messagesReplicas);
  const budgets = { RATE_LIMIT_EVENTS_PER_SEC: "1000", RATE_LIMIT_EVENT_BURST: "1000", RATE_LIMIT_USER_EVENTS_PER_SEC: "2000", RATE_LIMIT_USER_EVENT_BURST: "2000" };
  for (let i = 0; i < 2; i++) edges.push(await startEdge(edgeConfig({ ...env, ...budgets, PORT: "0" }), logger));
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  for (const edge of edges) await edge.close();
  for (const server of servers.reverse()) await server.close();
  await db?.drop();
});

function connect(edge: EdgeServer, userId: number): Promise<Socket> {
  const socket = io(edge.url, { query: { user_id: String(userId) }, transports: ["websocket"], reconnection: false, forceNew: true });
  sockets.push(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`user ${userId} did not connect`)), 10_000);
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

describe("two replicas of every service and two edges", () => {
  it("give every member of a busy group the same order, the order of mensaje_id and of get_history", async () => {
    const members = await Promise.all(Array.from({ length: MEMBERS }, (_, i) => connect(edges[i % 2]!, 50_000 + i)));
    const received = members.map(() => [] as string[]);
    members.forEach((socket, i) => socket.on("receive_message", (m: { mensaje_id: string }) => received[i]!.push(m.mensaje_id)));
    for (const socket of members) expect(await socket.timeout(10_000).emitWithAck("join_group", { group_id: GROUP })).toMatchObject({ status: "ok" });

    // Everyone sends at once, without waiting for ACKs. A socket handles its events one after
    // another, so on a busy machine the tail of a 50-send burst may wait past MAX_EVENT_WAIT_MS
    // and be refused OVERLOADED: it is sent again after retry_after_ms with the same
    // client_msg_id, as the protocol asks of clients (a retry is never stored twice).
    const sendOnce = (socket: Socket, payload: object) => socket.timeout(30_000).emitWithAck("send_message", payload) as Promise<Record<string, unknown>>;
    const sendUntilTaken = async (socket: Socket, payload: object) => {
      for (let attempt = 0; ; attempt++) {
        const reply = await sendOnce(socket, payload);
        if (reply["code"] !== "OVERLOADED" || attempt >= 20) return reply;
        await new Promise((r) => setTimeout(r, Number(reply["retry_after_ms"] ?? 1000)));
      }
    };
    const acks = await Promise.all(
      members.slice(0, SENDERS).flatMap((socket, i) =>
        Array.from({ length: PER_SENDER }, (_, n) => sendUntilTaken(socket, { to: GROUP, type: "grupal", message: `s${i} n${n}`, client_msg_id: `s${i}-${n}` })),
      ),
    );
    expect(acks.every((a) => a.status === "sent" && a.saved_to_db === true)).toBe(true);
    const all = acks.map((a) => BigInt(a.mensaje_id as string)).sort((a, b) => (a < b ? -1 : 1));
    expect(new Set(all).size).toBe(SENDERS * PER_SENDER);
    const mine = (i: number) => new Set(acks.filter((a) => a.sender_id === String(50_000 + i)).map((a) => a.mensaje_id as string));

    // Each member gets everything but its own sends (those came back as ACKs).
    const deadline = Date.now() + 30_000;
    const expected = (i: number) => all.length - mine(i).size;
    while (received.some((got, i) => got.length < expected(i)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // A moment more: nothing may arrive twice.
    await new Promise((r) => setTimeout(r, 300));

    const history: string[] = [];
    let before: string | null = null;
    do {
      const page: { messages: { mensaje_id: string }[]; next_before_id: string | null } = await members[0]!
        .timeout(10_000)
        .emitWithAck("get_history", { type: "grupal", to: GROUP, limit: 200, ...(before ? { before_id: before } : {}) });
      history.push(...page.messages.map((m) => m.mensaje_id));
      before = page.next_before_id;
    } while (before !== null);
    expect(history.reverse()).toEqual(all.map(String));

    received.forEach((got, i) => {
      const own = mine(i);
      expect(got, `member ${i}: every message but its own, once, in mensaje_id order`).toEqual(all.map(String).filter((id) => !own.has(id)));
    });
    // The work was really spread: every messages replica stored some of the sends.
    for (const replica of messagesReplicas) {
      const metrics = await (await fetch(`http://127.0.0.1:${replica.metricsPort}/metrics`)).text();
      const calls = Number(/^redup_rpc_duration_seconds_count\{[^}]*method="SendMessages"[^}]*code="ok"[^}]*\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
      expect(calls).toBeGreaterThan(0);
    }
  });
});
