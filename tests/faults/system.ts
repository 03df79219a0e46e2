/**
 * The system the fault harness breaks: its own database on the shared PostgreSQL, its own
 * nats-server, the three gRPC services and two edges as processes, a balancer in front of
 * the edges — and a TCP proxy on every link a fault cuts: each service to PostgreSQL, and
 * edge-2 to NATS. Cutting a proxy is an outage as the process sees it, without touching the
 * shared PostgreSQL other tests use.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase, freePort, startTcpBalancer, startTcpProxy, startTestNats, type TcpBalancer, type TcpProxy, type TestDatabase, type TestNats } from "@redup/kit/testing";
import { serviceProcess, type ServiceProcess } from "./processes.js";

export interface FaultSystem {
  db: TestDatabase;
  nats: TestNats;
  rooms: ServiceProcess;
  messages: ServiceProcess;
  delivery: ServiceProcess;
  edge1: ServiceProcess;
  edge2: ServiceProcess;
  /** Each service's link to PostgreSQL. */
  pg: { rooms: TcpProxy; messages: TcpProxy; delivery: TcpProxy };
  /** edge-2's link to NATS. */
  edge2Nats: TcpProxy;
  /** Where clients connect: the balancer over both edges. */
  url: string;
  /** The folder of the processes' logs (one file each, kept after the run). */
  logs: string;
  close(): Promise<void>;
}

/** The database URL with its host and port replaced by a proxy's. */
function through(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.host = `127.0.0.1:${proxy.port}`;
  return u.toString();
}

export async function startFaultSystem(): Promise<FaultSystem> {
  const db = await createTestDatabase("faults");
  const nats = await startTestNats();
  const pgPort = Number(new URL(db.url).port || 5432);
  const pg = { rooms: await startTcpProxy(pgPort), messages: await startTcpProxy(pgPort), delivery: await startTcpProxy(pgPort) };
  const edge2Nats = await startTcpProxy(nats.port);
  const [roomsPort, messagesPort, deliveryPort, edge1Port, edge2Port] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
  const env: Record<string, string> = {
    HOST: "127.0.0.1",
    ROOMS_PORT: String(roomsPort),
    MESSAGES_PORT: String(messagesPort),
    DELIVERY_PORT: String(deliveryPort),
    ROOMS_URL: `http://127.0.0.1:${roomsPort}`,
    MESSAGES_URL: `http://127.0.0.1:${messagesPort}`,
    DELIVERY_URL: `http://127.0.0.1:${deliveryPort}`,
    NATS_URL: nats.url,
    NATS_SUBJECT_PREFIX: `f${randomBytes(3).toString("hex")}`,
    RPC_TIMEOUT_MS: "3000",
    DISPATCH_RETRY_INTERVAL_MS: "300",
    RATE_LIMIT_EVENTS_PER_SEC: "1000",
    RATE_LIMIT_EVENT_BURST: "1000",
    RATE_LIMIT_USER_EVENTS_PER_SEC: "1000",
    RATE_LIMIT_USER_EVENT_BURST: "1000",
    DEMO_PAGE: "false",
  };
  const logs = mkdtempSync(join(tmpdir(), "redup-faults-"));
  const rooms = serviceProcess("rooms", roomsPort!, { ...env, DATABASE_URL: through(db.url, pg.rooms) }, join(logs, "rooms.log"));
  const delivery = serviceProcess("delivery", deliveryPort!, { ...env, DATABASE_URL: through(db.url, pg.delivery) }, join(logs, "delivery.log"));
  const messages = serviceProcess("messages", messagesPort!, { ...env, DATABASE_URL: through(db.url, pg.messages) }, join(logs, "messages.log"));
  const edge1 = serviceProcess("edge", edge1Port!, { ...env, PORT: String(edge1Port), EDGE_ID: "edge-1" }, join(logs, "edge-1.log"));
  const edge2 = serviceProcess("edge", edge2Port!, { ...env, PORT: String(edge2Port), EDGE_ID: "edge-2", NATS_URL: `nats://127.0.0.1:${edge2Nats.port}` }, join(logs, "edge-2.log"));
  const all = [rooms, delivery, messages, edge1, edge2];
  const proxies = [pg.rooms, pg.messages, pg.delivery, edge2Nats];
  const stopAll = async () => {
    for (const p of all) await p.stop().catch(() => {});
    await nats.stop();
    for (const proxy of proxies) await proxy.close();
    await db.drop();
  };
  let balancer: TcpBalancer;
  try {
    for (const p of all) await p.start();
    balancer = await startTcpBalancer([edge1Port!, edge2Port!]);
  } catch (err) {
    // A process that never became ready: leave nothing behind.
    await stopAll();
    throw err;
  }
  return {
    db,
    nats,
    rooms,
    messages,
    delivery,
    edge1,
    edge2,
    pg,
    edge2Nats,
    url: `http://127.0.0.1:${balancer.port}`,
    logs,
    async close() {
      await balancer.close();
      await stopAll();
    },
  };
}
