/**
 * The fault harness: a bounded message load between online users while every part of the
 * system fails in turn — each gRPC service SIGKILLed and restarted, PostgreSQL restarted,
 * NATS killed and restarted, one of two edges killed (its clients reconnect to the other
 * through a balancer). Then the ledger: every message ACKed saved_to_db:true must be in
 * `mensajes` and must have reached each recipient (live or by catch-up), once per socket
 * after dedupe by mensaje_id.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import {
  createTestDatabase,
  freePort,
  startTcpBalancer,
  startTcpProxy,
  startTestNats,
  waitFor,
  withClient,
  type TcpProxy,
} from "@redup/kit/testing";
import { io, type Socket } from "socket.io-client";
import { serviceProcess, type ServiceProcess } from "./processes.js";

export interface FaultOptions {
  /** How long the load runs; faults are spread over it. */
  seconds: number;
  /** Messages per second per sending user. */
  ratePerUser: number;
  log?: (line: string) => void;
}

export interface Figures {
  sent: number;
  ackedSaved: number;
  ackedUnsaved: number;
  gaveUp: number;
  deliveries: number;
  delivered: number;
  lost: number;
  missingFromDb: number;
  duplicates: number;
  faults: string[];
  survivingEdge: { before: { fds: number; rssBytes: number } | undefined; after: { fds: number; rssBytes: number } | undefined };
  /** For each lost delivery: what the database says about it (to explain a failure). */
  lostDetails: Record<string, unknown>[];
}

interface User {
  id: number;
  socket: Socket;
  /** mensaje_ids received, after dedupe. */
  seen: Set<string>;
  raw: number;
}

const PAIRS: [number, number][] = [
  [5001, 5002],
  [5003, 5004],
  [5005, 5006],
];
const GROUP = 9000;
const GROUP_MEMBERS = [5101, 5102, 5103, 5104];

/** Restarts the machine's PostgreSQL when this process may, else cuts it off by proxy. */
function postgresRestart(proxy: TcpProxy): { how: string; run: () => Promise<void> } {
  const versions = existsSync("/etc/postgresql") ? readdirSync("/etc/postgresql") : [];
  if (process.getuid?.() === 0 && versions.length === 1 && process.env["FAULTS_PG_RESTART"] !== "proxy") {
    return {
      how: "PostgreSQL restarted (pg_ctlcluster restart)",
      run: async () => {
        execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", versions[0]!, "main", "restart"], { stdio: "ignore" });
      },
    };
  }
  return {
    how: "PostgreSQL connections cut for 3 s (proxy)",
    run: async () => {
      await proxy.cut();
      await new Promise((r) => setTimeout(r, 3000));
      await proxy.restore();
    },
  };
}

export async function runFaults(options: FaultOptions): Promise<Figures> {
  const log = options.log ?? (() => {});
  const db = await createTestDatabase("faults");
  const nats = await startTestNats();
  const pgPort = Number(new URL(db.url).port || 5432);
  const pgProxy = await startTcpProxy(pgPort);
  const viaProxy = new URL(db.url);
  viaProxy.host = `127.0.0.1:${pgProxy.port}`;
  const [roomsPort, messagesPort, deliveryPort, edge1Port, edge2Port] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
  const env: Record<string, string> = {
    DATABASE_URL: viaProxy.toString(),
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
  const rooms = serviceProcess("rooms", roomsPort!, env);
  const delivery = serviceProcess("delivery", deliveryPort!, env);
  const messages = serviceProcess("messages", messagesPort!, env);
  const edge1 = serviceProcess("edge", edge1Port!, { ...env, PORT: String(edge1Port), EDGE_ID: "edge-1" });
  const edge2 = serviceProcess("edge", edge2Port!, { ...env, PORT: String(edge2Port), EDGE_ID: "edge-2" });
  const all: ServiceProcess[] = [rooms, delivery, messages, edge1, edge2];
  for (const p of all) await p.start();
  const balancer = await startTcpBalancer([edge1Port!, edge2Port!]);
  const url = `http://127.0.0.1:${balancer.port}`;

  const users = new Map<number, User>();
  // A reconnecting user keeps its dedupe set from the first event on: catch-up messages may
  // arrive in the same network read as `connected`.
  const connectUser = (id: number, previous?: User) =>
    new Promise<User>((resolve, reject) => {
      const socket = io(url, { query: { user_id: String(id) }, transports: ["websocket"], reconnectionDelay: 200, reconnectionDelayMax: 1000, forceNew: true });
      const user: User = { id, socket, seen: previous?.seen ?? new Set(), raw: previous?.raw ?? 0 };
      socket.on("receive_message", (m: { mensaje_id: string | null }) => {
        user.raw++;
        if (m.mensaje_id === null) return;
        user.seen.add(m.mensaje_id);
        socket.emit("mark_delivered", { mensaje_id: m.mensaje_id });
      });
      // A first attempt may meet a dying edge; the client retries by itself, within a bound.
      const timer = setTimeout(() => {
        socket.close();
        reject(new Error(`user ${id} could not connect within 20 s`));
      }, 20_000);
      socket.once("connected", () => {
        clearTimeout(timer);
        resolve(user);
      });
    });
  for (const id of [...PAIRS.flat(), ...GROUP_MEMBERS]) users.set(id, await connectUser(id));
  for (const id of GROUP_MEMBERS) await users.get(id)!.socket.timeout(5000).emitWithAck("join_group", { group_id: GROUP });

  const ledger = new Map<string, number[]>(); // mensaje_id -> recipients
  const figures = { sent: 0, ackedSaved: 0, ackedUnsaved: 0, gaveUp: 0 };
  let running = true;

  /** One logical message: retried with the same client_msg_id until an ACK (bounded). */
  const sendOne = async (from: number, to: number, type: "directo" | "grupal", seq: number, recipients: number[]) => {
    figures.sent++;
    const payload = { to, type, message: `m${from}-${seq}`, client_msg_id: `c${from}-${seq}` };
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        const ack = (await users.get(from)!.socket.timeout(5000).emitWithAck("send_message", payload)) as Record<string, unknown>;
        if (ack["status"] === "sent") {
          if (ack["saved_to_db"] === true) {
            figures.ackedSaved++;
            ledger.set(ack["mensaje_id"] as string, recipients);
          } else {
            figures.ackedUnsaved++;
          }
          return;
        }
      } catch {
        // No ACK in time (the edge or a service was down): retry with the same key.
      }
      await new Promise((r) => setTimeout(r, 700));
    }
    figures.gaveUp++;
  };

  const senders: Promise<void>[] = [];
  const deadline = Date.now() + options.seconds * 1000;
  const sender = async (from: number, to: number, type: "directo" | "grupal", recipients: number[]) => {
    let seq = 0;
    while (running && Date.now() < deadline && seq < options.seconds * options.ratePerUser * 2) {
      await sendOne(from, to, type, seq++, recipients);
      await new Promise((r) => setTimeout(r, 1000 / options.ratePerUser));
    }
  };
  for (const [a, b] of PAIRS) {
    senders.push(sender(a, b, "directo", [b]));
    senders.push(sender(b, a, "directo", [a]));
  }
  senders.push(sender(GROUP_MEMBERS[0]!, GROUP, "grupal", GROUP_MEMBERS.slice(1)));

  // The faults, spread over the run.
  const faults: string[] = [];
  const step = (options.seconds * 1000) / 7;
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const pg = postgresRestart(pgProxy);
  await pause(step / 2);
  const usageBefore = edge2.usage();
  for (const service of [rooms, messages, delivery]) {
    await service.kill();
    faults.push(`${service.name} SIGKILLed and restarted`);
    log(`fault: ${service.name} killed`);
    await pause(Math.min(1500, step / 3));
    await service.start();
    await pause(step);
  }
  log(`fault: ${pg.how}`);
  await pg.run();
  faults.push(pg.how);
  await pause(step);
  log("fault: NATS killed");
  await nats.stop();
  await pause(Math.min(2000, step / 2));
  await nats.start();
  faults.push("NATS killed and restarted");
  await pause(step);
  log("fault: edge-1 killed");
  await edge1.kill();
  faults.push("edge-1 SIGKILLed (its clients reconnect to edge-2)");

  await Promise.all(senders);
  running = false;

  // Quiescence: every client reconnects once more, so anything not delivered live arrives
  // by catch-up; then wait until the ledger is satisfied or time runs out.
  for (const user of users.values()) {
    user.socket.disconnect();
    users.set(user.id, await connectUser(user.id, user));
  }
  const unmet = () => {
    let missing = 0;
    for (const [id, recipients] of ledger) for (const r of recipients) if (!users.get(r)!.seen.has(id)) missing++;
    return missing;
  };
  await waitFor(() => unmet() === 0, 30_000, "every ACKed message to reach its recipients").catch(() => {});

  const lostPairs: [string, number][] = [];
  for (const [id, recipients] of ledger) for (const r of recipients) if (!users.get(r)!.seen.has(id)) lostPairs.push([id, r]);
  const lostDetails = await withClient(db.url, async (c) => {
    const details: Record<string, unknown>[] = [];
    for (const [id, r] of lostPairs.slice(0, 20)) {
      const recipient = (await c.query("select entregado_en, creado_en from destinatarios_mensaje where mensaje_id = $1 and destinatario_id = $2", [id, r])).rows[0];
      const outbox = (await c.query("select intentos, proximo_intento from mensajes_despacho_pendiente where mensaje_id = $1", [id])).rows[0];
      const message = (await c.query("select sala_chat_id, remitente_id, enviado_en from mensajes where id = $1", [id])).rows[0];
      details.push({ mensaje_id: id, recipient: r, message, recipientRow: recipient ?? null, outbox: outbox ?? null });
    }
    return details;
  });
  const ids = [...ledger.keys()];
  const stored = ids.length === 0 ? 0 : await withClient(db.url, async (c) => Number((await c.query("select count(*) from mensajes where id = any($1::bigint[])", [ids])).rows[0].count));
  const deliveries = [...ledger.values()].reduce((n, r) => n + r.length, 0);
  const lost = unmet();
  const raw = [...users.values()].reduce((n, u) => n + u.raw, 0);
  const unique = [...users.values()].reduce((n, u) => n + u.seen.size, 0);
  const result: Figures = {
    ...figures,
    deliveries,
    delivered: deliveries - lost,
    lost,
    missingFromDb: ids.length - stored,
    duplicates: raw - unique,
    faults,
    survivingEdge: { before: usageBefore, after: edge2.usage() },
    lostDetails,
  };

  for (const user of users.values()) user.socket.disconnect();
  await balancer.close();
  for (const p of all) await p.stop().catch(() => {});
  await nats.stop();
  await pgProxy.close();
  await db.drop();
  return result;
}

/** The figures as a table for people. */
export function formatFigures(f: Figures): string {
  const rows: [string, string | number][] = [
    ["messages sent", f.sent],
    ["ACKed saved", f.ackedSaved],
    ["ACKed unsaved (fallback)", f.ackedUnsaved],
    ["gave up after retries", f.gaveUp],
    ["deliveries owed (saved × recipients)", f.deliveries],
    ["delivered", f.delivered],
    ["lost (must be 0)", f.lost],
    ["ACKed saved but not in mensajes (must be 0)", f.missingFromDb],
    ["duplicates before client dedupe", f.duplicates],
    ["edge-2 fds before → after", `${f.survivingEdge.before?.fds ?? "?"} → ${f.survivingEdge.after?.fds ?? "?"}`],
    ["edge-2 RSS MB before → after", `${((f.survivingEdge.before?.rssBytes ?? 0) / 2 ** 20).toFixed(0)} → ${((f.survivingEdge.after?.rssBytes ?? 0) / 2 ** 20).toFixed(0)}`],
  ];
  const details = f.lostDetails.map((d) => `lost: ${JSON.stringify(d)}`);
  return [...rows.map(([k, v]) => `${k.padEnd(46)} ${v}`), `faults: ${f.faults.join("; ")}`, ...details].join("\n");
}
