import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServiceClient, subjects, type EventBus, type Logger } from "@redup/kit";
import { Health } from "@redup/proto/grpc/health/v1/health_pb";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { Server } from "socket.io";
import type { Config } from "./config.js";
import type { EdgeContext, EdgeSocketData } from "./context.js";
import type { ClientToServerEvents, ServerToClientEvents } from "./events.js";
import { createFanout } from "./fanout.js";
import { createAuthenticator } from "./auth.js";
import { createConnectionHandler, createHandshake } from "./handlers/connection.js";
import { createHttpRoutes } from "./http.js";
import { loadDocs } from "./docs.js";
import { createRateLimiter, createTurns } from "./limits.js";
import { createCatchUpReads } from "./catch-up-reads.js";
import { createMarkQueue } from "./mark-queue.js";
import { createSendLimit } from "./send-limit.js";
import { createSendQueue } from "./send-queue.js";
import { createMetrics, rpcMetricsInterceptor, watchEdge } from "./metrics.js";
import { createPacketEncoder } from "./packets.js";
import { createRoomReader } from "./room-reader.js";
import { createPresenceReporter } from "./presence-reporter.js";
import { createPresenceWatch } from "./presence-watch.js";
import { createTyping } from "./typing.js";

export interface EdgeServer {
  /** The bound port (useful with PORT=0). */
  port: number;
  url: string;
  io: Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, EdgeSocketData>;
  context: EdgeContext;
  /** Stops accepting, lets in-flight events finish (up to the grace period), then disconnects everyone. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 10_000;
/** The fewest sends in progress the adaptive limit allows: a slow but working system carries these. */
const MIN_SEND_LIMIT = 256;
const LISTEN_BACKLOG = 4096;

/** Builds the edge (HTTP routes, Socket.IO, handlers, fan-out) and listens on config.port. */
export async function createEdgeServer(config: Config, logger: Logger, bus: EventBus): Promise<EdgeServer> {
  const metrics = createMetrics();
  const clientOptions = {
    timeoutMs: config.rpcTimeoutMs,
    caFile: config.servicesCaFile,
    token: config.serviceToken,
    discovery: config.serviceDiscovery,
    interceptors: [rpcMetricsInterceptor(metrics)],
  };
  const messages = createServiceClient(MessagesService, { baseUrl: config.messagesUrl, ...clientOptions });
  const rooms = createServiceClient(RoomsService, { baseUrl: config.roomsUrl, ...clientOptions });
  const delivery = createServiceClient(DeliveryService, { baseUrl: config.deliveryUrl, ...clientOptions });
  // Socket.IO's encoder, once the server exists (below); fan-out encodes each live event once.
  let encode: ReturnType<typeof createPacketEncoder> = () => {
    throw new Error("the Socket.IO server is not started yet");
  };
  const names = subjects(config.subjectPrefix);
  // Typing and fan-out know each other: fan-out hands typing its events, typing asks fan-out
  // for sockets (only once events flow, after both exist).
  const typing = createTyping({
    bus,
    subjects: names,
    ttlMs: config.typingTtlMs,
    targets: (scope, id) => (scope === "user" ? fanout.socketsOf(id) : fanout.socketsInGroup(id)),
  });
  const fanout = createFanout({
    bus,
    subjects: names,
    edgeId: config.edgeId,
    logger,
    metrics,
    encode: (event, payload) => encode(event, payload),
    reorderWindowMs: config.reorderWindowMs,
    fetchRoom: createRoomReader(messages),
    onTyping: (scope, id, data) => typing.receive(scope, id, data),
  });
  const context: EdgeContext = {
    config,
    logger,
    metrics,
    fanout,
    typing,
    presence: createPresenceWatch({ bus, subjects: names, delivery, logger }),
    presenceReporter: createPresenceReporter({
      delivery,
      edgeId: config.edgeId,
      logger,
      heartbeatMs: config.presenceHeartbeatMs,
      graceMs: config.presenceGraceMs,
      holds: (userId) => fanout.socketsOf(userId).size > 0,
      held: () => fanout.heldUsers(),
    }),
    rooms,
    messages,
    send: createSendQueue(messages, metrics, { maxPending: config.maxPendingEvents, maxWaitMs: config.maxEventWaitMs }),
    sendLimit: createSendLimit({ targetMs: config.sendLatencyTargetMs, min: Math.min(MIN_SEND_LIMIT, config.maxPendingEvents), max: config.maxPendingEvents }),
    delivery,
    reads: createCatchUpReads(rooms, delivery, messages),
    marks: createMarkQueue(delivery, metrics, { maxPending: config.maxPendingEvents, maxWaitMs: config.maxEventWaitMs }),
    limiter: createRateLimiter(config.limits),
    catchUpTurns: createTurns(config.catchUpConcurrency),
    inflight: { count: 0 },
  };
  watchEdge(metrics, {
    bus,
    fanout: context.fanout,
    catchUpTurns: context.catchUpTurns,
    inflight: context.inflight,
    maxConnections: config.limits.maxConnections,
    maxPendingEvents: config.maxPendingEvents,
    sendLimit: context.sendLimit,
  });
  let draining = false;
  const docs = loadDocs();
  if (!docs) logger.warn("[DOCS] docs/protocol.md or docs/asyncapi.yaml not found: /docs is not served");
  const routes = createHttpRoutes({
    services: {
      rooms: createServiceClient(Health, { baseUrl: config.roomsUrl, caFile: config.servicesCaFile, discovery: config.serviceDiscovery, retries: 0 }),
      messages: createServiceClient(Health, { baseUrl: config.messagesUrl, caFile: config.servicesCaFile, discovery: config.serviceDiscovery, retries: 0 }),
      delivery: createServiceClient(Health, { baseUrl: config.deliveryUrl, caFile: config.servicesCaFile, discovery: config.serviceDiscovery, retries: 0 }),
    },
    bus,
    metrics,
    draining: () => draining,
    demoPage: config.demoPage,
    docs,
  });
  const handler = (req: Parameters<typeof routes>[0], res: Parameters<typeof routes>[1]) => {
    routes(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
  const http: HttpServer = config.tls
    ? createHttpsServer({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }, handler)
    : createHttpServer(handler);

  const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, EdgeSocketData>(http, {
    cors: { origin: config.corsOrigins === "*" ? "*" : config.corsOrigins, credentials: config.corsOrigins !== "*" },
    maxHttpBufferSize: config.maxHttpBufferSize,
    pingInterval: config.limits.pingIntervalMs,
    pingTimeout: config.limits.pingTimeoutMs,
    connectTimeout: config.limits.connectTimeoutMs,
    // The client bundle at /socket.io/socket.io.js is served for the demo page only.
    serveClient: config.demoPage,
    cleanupEmptyChildNamespaces: true,
  });
  encode = createPacketEncoder(io);
  io.use(createHandshake(context, createAuthenticator(config.auth)));
  const onConnection = createConnectionHandler(context);
  io.on("connection", (socket) => {
    // Memory per connection (Socket.IO's own advice): engine.io keeps each connection's first
    // HTTP request, with its socket internals and headers, for the connection's whole life.
    // Once the handshake is done only socket.handshake (a copy) is read, so it is let go.
    (socket.conn as unknown as { request: unknown }).request = null;
    // engine.io 6.6 leaves its pre-upgrade error listener on a websocket opened directly
    // (no polling first); that listener's scope holds the upgrade request, its response and
    // headers for the connection's life. The transport has its own error handling by now.
    const ws = (socket.conn as unknown as { transport?: { socket?: NodeJS.EventEmitter } }).transport?.socket;
    for (const listener of ws?.listeners("error") ?? []) {
      if (listener.name === "onUpgradeError") ws?.removeListener("error", listener as (...args: unknown[]) => void);
    }
    // Only auth and query were read (by the handshake check); the copied headers are not.
    socket.handshake.headers = {};
    onConnection(socket);
  });

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    // A deep accept queue: in a reconnect storm thousands of clients connect within seconds,
    // and Node's default (511) overflows while the loop is busy, dropping connects. The kernel
    // caps it at net.core.somaxconn.
    http.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  const url = `${config.tls ? "https" : "http"}://${host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    port,
    url,
    io,
    context,
    close() {
      closing ??= (async () => {
        draining = true;
        // No new connections; sockets already here may finish what they sent.
        http.close();
        const deadline = Date.now() + SHUTDOWN_GRACE_MS;
        while (context.inflight.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        await new Promise<void>((resolve) => io.close(() => resolve()));
        context.fanout.close();
        context.typing.close();
        context.presence.close();
        await context.presenceReporter.close();
      })();
      return closing;
    },
  };
}
