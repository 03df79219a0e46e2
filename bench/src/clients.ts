import { io, type Socket } from "socket.io-client";
import { latencyHistogram, nowUs, type CpuWindow } from "./stats.js";

export interface BenchOptions {
  /** The edges; users are spread over them round robin. */
  urls: string[];
  /** Marks the measured stretch of the scenario (the load, not its setup or drain). */
  window: CpuWindow;
  seconds: number;
  /** Hard cap on messages sent, whatever the duration. */
  maxMessages: number;
  /** The first user id of this run (fresh ids per run). */
  userIdBase: number;
  /** How long to wait for outstanding deliveries after the load. */
  drainSeconds: number;
}

/** What every scenario counts, shared by its clients. */
export class Ledger {
  sent = 0;
  ackedSaved = 0;
  ackedUnsaved = 0;
  ackErrors = 0;
  received = 0;
  duplicates = 0;
  /** Messages a socket received after a newer one of the same room (mensaje_id went back). */
  outOfOrder = 0;
  /** Send → ACK of the messages accepted (stored, or the unsaved fallback). */
  readonly ackLatency = latencyHistogram();
  /** Send → refusal, for the refused ones (how early load is shed). */
  readonly refusalLatency = latencyHistogram();
  /** Refusals by protocol code (OVERLOADED, RATE_LIMITED...); "TIMEOUT" when no answer came. */
  readonly refusals = new Map<string, number>();
  readonly receiveLatency = latencyHistogram();
  /** Called with each answer (overload measures per-second windows). */
  onAnswer?: (accepted: boolean, latencyUs: number) => void;
  /** mensaje_id (or uuid for unsaved) → how many recipient sockets still owe it. */
  readonly owed = new Map<string, number>();
  /** client_msg_id → when it was sent (µs). */
  readonly sentAt = new Map<string, number>();
  /** Receipts that arrived before their ACK (the recipient can be faster than the sender). */
  private readonly early = new Map<string, number>();

  /** Forgets everything counted so far (after a warm-up round that has fully drained). */
  reset(): void {
    this.sent = this.ackedSaved = this.ackedUnsaved = this.ackErrors = this.received = this.duplicates = this.outOfOrder = 0;
    this.ackLatency.reset();
    this.refusalLatency.reset();
    this.refusals.clear();
    this.receiveLatency.reset();
    this.owed.clear();
    this.sentAt.clear();
    this.early.clear();
  }

  /** Records an ACK; `recipients` sockets must receive it. */
  ack(reply: Record<string, unknown>, clientMsgId: string, recipients: number): void {
    const started = this.sentAt.get(clientMsgId);
    const latency = started === undefined ? undefined : Math.max(1, nowUs() - started);
    const accepted = reply["status"] === "sent";
    if (latency !== undefined) {
      (accepted ? this.ackLatency : this.refusalLatency).recordValue(latency);
      this.onAnswer?.(accepted, latency);
    }
    if (!accepted) {
      this.ackErrors++;
      const code = String(reply["code"] ?? "UNKNOWN");
      this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
      return;
    }
    if (reply["saved_to_db"] === true) this.ackedSaved++;
    else this.ackedUnsaved++;
    const key = (reply["mensaje_id"] as string | null) ?? (reply["mensaje_uuid"] as string);
    const already = this.early.get(key) ?? 0;
    this.early.delete(key);
    const left = (this.owed.get(key) ?? 0) + recipients - already;
    if (left > 0) this.owed.set(key, left);
    else this.owed.delete(key);
  }

  /** Records one receive on one socket (dedupe is per socket, by the caller's `seen`; order by its `lastByRoom`). */
  receive(message: Record<string, unknown>, seen: Set<string>, lastByRoom: Map<string, bigint>): void {
    const key = (message["mensaje_id"] as string | null) ?? (message["mensaje_uuid"] as string);
    if (seen.has(key)) {
      this.duplicates++;
      return;
    }
    seen.add(key);
    const room = message["sala_chat_id"] as string | null;
    if (room !== null && message["mensaje_id"] !== null) {
      const id = BigInt(message["mensaje_id"] as string);
      if ((lastByRoom.get(room) ?? 0n) > id) this.outOfOrder++;
      else lastByRoom.set(room, id);
    }
    this.received++;
    const started = this.sentAt.get(String(message["message"]).split(" ")[0]!);
    if (started !== undefined) this.receiveLatency.recordValue(Math.max(1, nowUs() - started));
    const owed = this.owed.get(key);
    if (owed === undefined) {
      this.early.set(key, (this.early.get(key) ?? 0) + 1);
      return;
    }
    if (owed <= 1) this.owed.delete(key);
    else this.owed.set(key, owed - 1);
  }

  /** Deliveries ACKed but never received (after the drain). */
  get lost(): number {
    let n = 0;
    for (const left of this.owed.values()) n += Math.max(0, left);
    return n;
  }
}

export interface BenchClient {
  userId: number;
  socket: Socket;
  seen: Set<string>;
  /** The newest mensaje_id received per room, to count messages that arrive out of order. */
  lastByRoom: Map<string, bigint>;
  /** Called after each message this socket receives (event-driven waits, no polling). */
  onReceive?: () => void;
}

/**
 * Connects one user and resolves once `connected` arrived (or rejects after 20 s). `previous`:
 * the same user's earlier socket, whose dedupe and order state carry over, so what its
 * catch-up replays counts as a duplicate, not as a second receive.
 */
export function connect(url: string, userId: number, ledger: Ledger | undefined, extra: Record<string, string> = {}, previous?: BenchClient): Promise<BenchClient> {
  const socket = io(url, { query: { user_id: String(userId), ...extra }, transports: ["websocket"], reconnection: false, forceNew: true, timeout: 20_000 });
  const client: BenchClient = { userId, socket, seen: previous?.seen ?? new Set(), lastByRoom: previous?.lastByRoom ?? new Map() };
  if (ledger)
    socket.on("receive_message", (m: Record<string, unknown>) => {
      ledger.receive(m, client.seen, client.lastByRoom);
      client.onReceive?.();
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`user ${userId}: no 'connected' within 20 s`));
    }, 20_000);
    socket.once("connected", () => {
      clearTimeout(timer);
      resolve(client);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
}

/** Connects many users, `parallel` at a time, spread over the edges; returns them and each setup time (µs). */
export async function connectAll(urls: string[], userIds: number[], ledger: Ledger | undefined, parallel = 50) {
  const clients: BenchClient[] = [];
  const setup = latencyHistogram();
  let errors = 0;
  let next = 0;
  const worker = async () => {
    while (next < userIds.length) {
      const index = next++;
      const id = userIds[index]!;
      const started = nowUs();
      try {
        clients.push(await connect(urls[index % urls.length]!, id, ledger));
        setup.recordValue(Math.max(1, nowUs() - started));
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, userIds.length) }, worker));
  return { clients, setup, errors };
}

/** ACKs not back yet, by when they give up: one shared timer for all of them, not one per send. */
const waiting = new Map<(reply: Record<string, unknown> | undefined) => void, number>();
let sweeper: NodeJS.Timeout | undefined;
function awaitAck(register: (done: (reply: Record<string, unknown>) => void) => void, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
  sweeper ??= setInterval(() => {
    const now = Date.now();
    for (const [settle, deadline] of waiting) if (deadline <= now) settle(undefined);
    if (waiting.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  }, 1000);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (reply: Record<string, unknown> | undefined) => {
      if (settled) return;
      settled = true;
      waiting.delete(settle);
      resolve(reply);
    };
    waiting.set(settle, Date.now() + timeoutMs);
    register(settle);
  });
}

/** Sends one message and records its ACK (or an ACK error after 30 s); the text starts with the client_msg_id. */
export async function send(ledger: Ledger, from: BenchClient, to: number, type: "directo" | "grupal", recipients: number, seq: number): Promise<void> {
  const clientMsgId = `${from.userId}-${seq}`;
  ledger.sent++;
  ledger.sentAt.set(clientMsgId, nowUs());
  const reply = await awaitAck((done) => from.socket.emit("send_message", { to, type, message: `${clientMsgId} bench`, client_msg_id: clientMsgId }, done), 30_000);
  if (reply) ledger.ack(reply, clientMsgId, recipients);
  else {
    ledger.ackErrors++;
    ledger.refusals.set("TIMEOUT", (ledger.refusals.get("TIMEOUT") ?? 0) + 1);
  }
}

/** Waits until every ACKed delivery arrived, or the drain time is over. */
export async function drain(ledger: Ledger, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (ledger.owed.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
