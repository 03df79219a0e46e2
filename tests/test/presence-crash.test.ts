/**
 * Presence when an edge crashes: an edge process killed with SIGKILL says nothing on its way
 * out, so its users must go offline because its heartbeats stop (within delivery's
 * PRESENCE_EDGE_TIMEOUT_MS and a third of it), seen by a watcher on another edge. And
 * last_seen is stored: after every service restarts, it is still the same.
 */
import { createLogger, type Env } from "@redup/kit";
import { coreTestEnv, createTestDatabase, freePort, type TestDatabase } from "@redup/kit/testing";
import { loadConfig as edgeConfig, startEdge, type EdgeServer } from "@redup/edge";
import type { PresenceEvent, PresenceWatchedReply } from "@redup/edge/events";
import { startCoreServices, type CoreServices } from "@redup/system";
import { io, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceProcess, type ServiceProcess } from "../faults/processes.js";

const logger = createLogger({ service: "presence-crash-test", level: "silent" });
let db: TestDatabase;
let core: CoreServices;
let env: Env;
let survivor: EdgeServer;
let doomed: ServiceProcess;
const sockets: Socket[] = [];

const connect = (url: string, userId: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = io(url, { query: { user_id: String(userId) }, transports: ["websocket"], reconnection: false, forceNew: true });
    sockets.push(socket);
    const timer = setTimeout(() => reject(new Error(`user ${userId} did not connect`)), 10_000);
    socket.once("connected", () => (clearTimeout(timer), resolve(socket)));
    socket.once("connect_error", (err) => (clearTimeout(timer), reject(err)));
  });

const nextPresence = (socket: Socket, timeoutMs: number) =>
  new Promise<PresenceEvent>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no presence event within ${timeoutMs} ms`)), timeoutMs);
    socket.once("presence", (event: PresenceEvent) => (clearTimeout(timer), resolve(event)));
  });

beforeAll(async () => {
  db = await createTestDatabase("presence_crash");
  const base = coreTestEnv(db.url, { PRESENCE_EDGE_TIMEOUT_MS: "1500" });
  core = await startCoreServices(base, { logLevel: "silent" });
  env = { ...base, ...core.env, PRESENCE_HEARTBEAT_MS: "300" };
  survivor = await startEdge(edgeConfig({ ...env, PORT: "0", EDGE_ID: "survivor" }), logger);
  const port = await freePort();
  doomed = serviceProcess("edge", port, { ...(env as Record<string, string>), PORT: String(port), HOST: "127.0.0.1", EDGE_ID: "doomed" });
  await doomed.start();
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await doomed?.kill();
  await survivor?.close();
  await core?.close();
  await db?.drop();
});

describe("an edge that crashes", () => {
  it("takes its users offline once its heartbeats stop, and last_seen outlives a restart", async () => {
    const watcher = await connect(survivor.url, 9001);
    const answer = (await watcher.timeout(8000).emitWithAck("watch_presence", { user_ids: [9002] })) as PresenceWatchedReply;
    expect(answer.presences).toEqual([{ user_id: "9002", online: false, last_seen: null }]);

    const online = nextPresence(watcher, 10_000);
    await connect(`http://127.0.0.1:${doomed.port}`, 9002);
    expect(await online).toMatchObject({ user_id: "9002", online: true });

    const offline = nextPresence(watcher, 20_000);
    await doomed.kill();
    const gone = await offline;
    expect(gone).toMatchObject({ user_id: "9002", online: false });
    expect(gone.last_seen).not.toBeNull();

    // Every service restarts on the same database: last_seen is read back unchanged.
    await survivor.close();
    await core.close();
    core = await startCoreServices({ ...env, ROOMS_PORT: "0", MESSAGES_PORT: "0", DELIVERY_PORT: "0" }, { logLevel: "silent" });
    survivor = await startEdge(edgeConfig({ ...env, ...core.env, PORT: "0", EDGE_ID: "survivor" }), logger);
    const again = await connect(survivor.url, 9003);
    const read = (await again.timeout(8000).emitWithAck("watch_presence", { user_ids: [9002] })) as PresenceWatchedReply;
    expect(read.presences).toEqual([{ user_id: "9002", online: false, last_seen: gone.last_seen }]);
  });
});
