/**
 * The real system for the client's tests: the three services on a fresh database with a
 * NATS prefix of their own, edges on demand, and the TCP pieces that stand between a client
 * and an edge (a proxy to cut, a balancer over several edges).
 */
import { createLogger } from "@redup/kit";
import { coreTestEnv, createTestDatabase, withClient, startTcpBalancer, startTcpProxy, type TcpBalancer, type TcpProxy, type TestDatabase } from "@redup/kit/testing";
import { loadConfig, startEdge, type EdgeServer } from "@redup/edge";
import { startCoreServices, type CoreServices } from "@redup/system";
import { compareIds, createChatClient, type ChatClient, type ChatClientOptions, type ChatEvents } from "../src/index.js";

const logger = createLogger({ service: "client-test", level: process.env["TEST_LOG_LEVEL"] ?? "silent" });

export interface Stack {
  /** The services' environment, each *_URL pointing at a running service. */
  env: Record<string, string>;
  startEdge(extra?: Record<string, string>): Promise<EdgeServer>;
  stopEdge(edge: EdgeServer): Promise<void>;
  /** A proxy to an edge, or to any local port. */
  proxy(target: EdgeServer | number): Promise<TcpProxy>;
  balancer(ports: number[]): Promise<TcpBalancer>;
  /** A client that connects, and is closed with the stack. */
  client(port: number, options: Partial<ChatClientOptions> & Pick<ChatClientOptions, "auth">): ChatClient;
  /** SQL on the services' database (to see what was stored, or wait for the feed's pruning). */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /**
   * Runs `statement` in a transaction left open until the returned function commits it. By
   * default it takes a transaction id, as a slow writer would: the change feeds go only up to
   * the oldest running transaction, so nothing written from then on is in them until the
   * commit. A LOCK TABLE makes the table's readers wait instead.
   */
  openTransaction(statement?: string): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export async function startStack(extraEnv: Record<string, string> = {}): Promise<Stack> {
  const db: TestDatabase = await createTestDatabase("client");
  const base = coreTestEnv(db.url, { DISPATCH_RETRY_INTERVAL_MS: "200", RPC_TIMEOUT_MS: "3000", ...extraEnv });
  const core: CoreServices = await startCoreServices(base, { logLevel: "silent" });
  const env = { ...base, ...(core.env as Record<string, string>) };
  const edges: EdgeServer[] = [];
  const closers: { close(): Promise<void> | void }[] = [];
  return {
    env,
    async startEdge(extra = {}) {
      // Tests send faster than people do: generous rate limits unless a test sets its own.
      const budgets = { RATE_LIMIT_EVENTS_PER_SEC: "1000", RATE_LIMIT_EVENT_BURST: "1000", RATE_LIMIT_USER_EVENTS_PER_SEC: "2000", RATE_LIMIT_USER_EVENT_BURST: "2000" };
      const edge = await startEdge(loadConfig({ ...env, PORT: "0", ...budgets, ...extra }), logger);
      edges.push(edge);
      return edge;
    },
    async stopEdge(edge) {
      edges.splice(edges.indexOf(edge), 1);
      await edge.close();
    },
    async proxy(target) {
      const proxy = await startTcpProxy(typeof target === "number" ? target : target.port);
      closers.push(proxy);
      return proxy;
    },
    async balancer(ports) {
      const balancer = await startTcpBalancer(ports);
      closers.push(balancer);
      return balancer;
    },
    client(port, options) {
      const client = createChatClient({
        url: `http://127.0.0.1:${port}`,
        // Quick reconnects: a test waits for them.
        socket: { transports: ["websocket"], reconnectionDelay: 50, reconnectionDelayMax: 200, ...options.socket },
        ...options,
      });
      closers.unshift({ close: () => client.close() });
      client.connect();
      return client;
    },
    query: (sql, params = []) => withClient(db.url, async (c) => (await c.query(sql, params)).rows),
    async openTransaction(statement = "SELECT pg_current_xact_id()") {
      let commit = () => undefined as void;
      const committed = new Promise<void>((resolve) => (commit = resolve));
      let opened = () => undefined as void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      const done = withClient(db.url, async (c) => {
        await c.query("BEGIN");
        await c.query(statement);
        opened();
        await committed;
        await c.query("COMMIT");
      });
      await Promise.race([open, done]);
      return () => {
        commit();
        return done;
      };
    },
    async close() {
      for (const c of closers) await c.close();
      for (const edge of edges) await edge.close().catch(() => undefined);
      await core.close();
      await db.drop();
    },
  };
}

/** Every `event` a client emits from now on. */
export function collect<E extends keyof ChatEvents>(client: ChatClient, event: E): Parameters<ChatEvents[E]>[0][] {
  const items: Parameters<ChatEvents[E]>[0][] = [];
  client.on(event, ((data: Parameters<ChatEvents[E]>[0]) => items.push(data)) as ChatEvents[E]);
  return items;
}

/** Resolves when the client is online (now or later), or rejects after the timeout. */
export function online(client: ChatClient, timeoutMs = 10_000): Promise<void> {
  if (client.state.status === "online") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not online within ${timeoutMs} ms (${JSON.stringify(client.state)})`)), timeoutMs);
    const off = client.on("state", (s) => {
      if (s.status !== "online") return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Every stored message of a conversation, oldest first, read through the client's history paging. */
export async function fullHistory(client: ChatClient, type: "directo" | "grupal", to: string): Promise<{ mensaje_id: string | null; message: string; from: string }[]> {
  const pages: { mensaje_id: string | null; message: string; from: string }[] = [];
  let before: string | null = null;
  do {
    const page = await client.history({ type, to, before_id: before, limit: 200 });
    pages.push(...page.messages);
    before = page.next_before_id;
  } while (before !== null);
  return pages.reverse();
}

/** True when the ids are strictly increasing: one room's order, no repeats. */
export function inRoomOrder(ids: (string | null)[]): boolean {
  return ids.every((id, i) => i === 0 || (id !== null && ids[i - 1] !== null && compareIds(ids[i - 1]!, id) < 0));
}
