import { createLogger, type Logger } from "@redup/kit";
import { coreTestEnv, createTestDatabase, withClient, type TestDatabase } from "@redup/kit/testing";
import { startCoreServices, type CoreServices } from "@redup/system";
import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "../src/events.js";
import { loadConfig, startEdge, type EdgeServer } from "../src/index.js";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export const logger = createLogger({ service: "edge-test", level: process.env["TEST_LOG_LEVEL"] ?? "silent" });

/** Real services on a fresh database, a unique NATS prefix, and edges started on demand. */
export interface Stack {
  db: TestDatabase;
  core: CoreServices;
  env: Record<string, string>;
  edges: EdgeServer[];
  startEdge(extra?: Record<string, string>, logger?: Logger): Promise<EdgeServer>;
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export async function startStack(extraEnv: Record<string, string> = {}): Promise<Stack> {
  const db = await createTestDatabase("edge");
  const base = coreTestEnv(db.url, { DISPATCH_RETRY_INTERVAL_MS: "200", RPC_TIMEOUT_MS: "3000", ...extraEnv });
  const core = await startCoreServices(base, { logLevel: "silent" });
  const env = { ...base, ...(core.env as Record<string, string>) };
  const edges: EdgeServer[] = [];
  const clients: ClientSocket[] = [];
  const stack: Stack = {
    db,
    core,
    env,
    edges,
    async startEdge(extra = {}, extraLogger?: Logger) {
      // Tests drive sockets faster than people do: generous budgets unless a test sets its own.
      const budgets = { RATE_LIMIT_EVENTS_PER_SEC: "1000", RATE_LIMIT_EVENT_BURST: "1000", RATE_LIMIT_USER_EVENTS_PER_SEC: "2000", RATE_LIMIT_USER_EVENT_BURST: "2000" };
      const edge = await startEdge(loadConfig({ ...env, PORT: "0", ...budgets, ...extra }), extraLogger ?? logger);
      edges.push(edge);
      return edge;
    },
    query: (sql, params = []) => withClient(db.url, async (c) => (await c.query(sql, params)).rows),
    async close() {
      for (const c of clients) c.disconnect();
      for (const edge of edges) await edge.close();
      await core.close();
      await db.drop();
    },
  };
  return stack;
}

/** A socket.io-client connected as a user; resolves once `connected` arrived. */
export async function connectUser(edge: EdgeServer, userId: string | number, options: { transports?: string[] } = {}): Promise<{ socket: ClientSocket; connected: { user_id: string; sid: string } }> {
  const socket: ClientSocket = io(edge.url, { query: { user_id: String(userId) }, transports: options.transports ?? ["websocket"], reconnection: false, forceNew: true });
  const connected = await new Promise<{ user_id: string; sid: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`user ${userId} did not get 'connected'`)), 5000);
    socket.once("connected", (data) => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return { socket, connected };
}

/** The next `event` on a socket, or a rejection after the timeout. */
export function next<T = unknown>(socket: ClientSocket, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    (socket as unknown as { once(e: string, l: (d: T) => void): void }).once(event, (data: T) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

/** Collects every `event` a socket receives from now on. */
export function collect<T = unknown>(socket: ClientSocket, event: string): T[] {
  const items: T[] = [];
  (socket as unknown as { on(e: string, l: (d: T) => void): void }).on(event, (data: T) => items.push(data));
  return items;
}

/** Emits with an acknowledgement and resolves with the callback's payload. */
export function call<T = Record<string, unknown>>(socket: ClientSocket, event: string, payload: unknown, timeoutMs = 8000): Promise<T> {
  return (socket as unknown as { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<T> } }).timeout(timeoutMs).emitWithAck(event, payload);
}

/** Resolves when `items` holds at least `count` entries, or rejects after the timeout. */
export async function until<T>(items: T[], count: number, timeoutMs = 5000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  while (items.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} items, got ${items.length}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return items;
}
