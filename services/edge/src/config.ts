import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { readFileSync } from "node:fs";
import { ConfigError, loadEnv, logLevel, natsVars, nodeEnv, port, positiveInt, serviceUrlVars, z, type Env, type TlsFiles } from "@redup/kit";

export interface Config {
  env: "development" | "production" | "test";
  host: string;
  port: number;
  /** "*" or the exact origins allowed by CORS. */
  corsOrigins: "*" | string[];
  tls: TlsFiles | undefined;
  roomsUrl: string;
  messagesUrl: string;
  deliveryUrl: string;
  serviceDiscovery: "static" | "dns";
  servicesCaFile: string | undefined;
  rpcTimeoutMs: number;
  natsServers: string[];
  subjectPrefix: string;
  maxMessageLength: number;
  /** Longest payload a socket may send in one packet, in bytes. */
  maxHttpBufferSize: number;
  /** Most pending messages replayed to one connecting socket. */
  catchUpLimit: number;
  /** Most sockets running their connect-time catch-up at once. */
  catchUpConcurrency: number;
  /**
   * How long a room's message may wait for an earlier one whose event has not arrived yet
   * before that one is fetched from the messages service (room order, see room-order.ts).
   */
  reorderWindowMs: number;
  /**
   * Client events in progress on this edge, all sockets together; past it a new event is
   * refused as OVERLOADED at once (and the send and confirmation queues are bounded by it).
   */
  maxPendingEvents: number;
  /** The longest a client event may take from its arrival to its store; past it, OVERLOADED. */
  maxEventWaitMs: number;
  /**
   * The answer time sends should keep to, from their turn: when more than a tenth take longer,
   * the edge lowers how many sends it runs at once and refuses the rest as OVERLOADED.
   */
  sendLatencyTargetMs: number;
  /** This edge's name in events it publishes, in presence reports and in logs. */
  edgeId: string;
  /** How often the edge tells delivery it is alive (below delivery's PRESENCE_EDGE_TIMEOUT_MS). */
  presenceHeartbeatMs: number;
  /** How long a user whose last socket here closed still counts as here (a quick reconnect is no change). */
  presenceGraceMs: number;
  /** How long a `typing` holds on the receivers without a new one. */
  typingTtlMs: number;
  logLevel: string;
  /** Serve the /demo page (on by default outside production). */
  demoPage: boolean;
  /** The credential sent to the services (SERVICE_TOKEN); required in production. */
  serviceToken: string | undefined;
  /** OTLP/HTTP endpoint for traces (OTEL_EXPORTER_OTLP_ENDPOINT); unset = tracing off. */
  otlpEndpoint: string | undefined;
  /** How clients prove who they are; `none` trusts the guide's bare user_id (development only). */
  auth: AuthConfig;
  /** `open`: anyone may join any group (the guide); `members`: only users registered through rooms. */
  groupPolicy: "open" | "members";
  limits: Limits;
}

export type AuthConfig =
  | { mode: "none" }
  | {
      mode: "jwt";
      /** HS256 shared secret (SECRET_KEY). */
      secret?: string;
      /** RS256/ES256 public key in PEM (JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_FILE). */
      publicKey?: string;
      /** RS256/ES256 keys fetched from a JWKS endpoint (JWT_JWKS_URL). */
      jwksUrl?: string;
      issuer?: string;
      audience?: string;
    };

export interface Limits {
  /** Token bucket per connection: events per second, and the burst allowed. */
  eventsPerSecond: number;
  eventBurst: number;
  /** Token bucket per user across their sockets on this edge. */
  userEventsPerSecond: number;
  userEventBurst: number;
  maxSocketsPerUser: number;
  maxConnections: number;
  /** Packets waiting to be written to one socket before it is cut as too slow. */
  maxBufferedPackets: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** How long a client has to finish the Socket.IO handshake. */
  connectTimeoutMs: number;
}

const corsOrigins = z
  .string()
  .default("*")
  .transform((value, ctx) => {
    if (value.trim() === "*") return "*" as const;
    const origins = value.split(",").map((o) => o.trim()).filter(Boolean);
    for (const origin of origins) {
      if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
        ctx.addIssue({ code: "custom", message: `"${origin}" is not an origin like https://app.example.com` });
      }
    }
    return origins;
  });

/** The only reader of the environment for the edge. Names follow the guide's .env. */
export function loadConfig(env: Env = process.env): Config {
  const c = loadEnv(
    z.object({
      NODE_ENV: nodeEnv,
      HOST: z.string().default("0.0.0.0"),
      PORT: port(5000),
      CORS_ALLOWED_ORIGINS: corsOrigins,
      SSL_CERT_FILE: z.string().optional(),
      SSL_KEY_FILE: z.string().optional(),
      ...serviceUrlVars,
      ...natsVars,
      MAX_MESSAGE_LENGTH: positiveInt(4000),
      MAX_HTTP_BUFFER_SIZE: positiveInt(100_000),
      CATCH_UP_LIMIT: positiveInt(5000),
      CATCH_UP_CONCURRENCY: positiveInt(256),
      REORDER_WINDOW_MS: positiveInt(100),
      MAX_PENDING_EVENTS: positiveInt(4096),
      MAX_EVENT_WAIT_MS: positiveInt(2000),
      SEND_LATENCY_TARGET_MS: positiveInt(250),
      EDGE_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
      PRESENCE_HEARTBEAT_MS: positiveInt(5000),
      PRESENCE_GRACE_MS: positiveInt(2000),
      TYPING_TTL_MS: positiveInt(6000),
      LOG_LEVEL: logLevel,
      DEMO_PAGE: z.enum(["true", "false", "1", "0"]).optional(),
      SECRET_KEY: z.string().optional(),
      JWT_PUBLIC_KEY: z.string().optional(),
      JWT_PUBLIC_KEY_FILE: z.string().optional(),
      JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
      JWT_ISSUER: z.string().optional(),
      JWT_AUDIENCE: z.string().optional(),
      AUTH_REQUIRED: z.enum(["true", "false"]).optional(),
      GROUP_POLICY: z.enum(["open", "members"]).default("open"),
      SERVICE_TOKEN: z.string().min(32, "must be at least 32 characters").optional(),
      RATE_LIMIT_EVENTS_PER_SEC: positiveInt(20),
      RATE_LIMIT_EVENT_BURST: positiveInt(40),
      RATE_LIMIT_USER_EVENTS_PER_SEC: positiveInt(50),
      RATE_LIMIT_USER_EVENT_BURST: positiveInt(100),
      MAX_SOCKETS_PER_USER: positiveInt(10),
      MAX_CONNECTIONS: positiveInt(50_000),
      MAX_BUFFERED_PACKETS: positiveInt(1000),
      PING_INTERVAL_MS: positiveInt(25_000),
      PING_TIMEOUT_MS: positiveInt(20_000),
      CONNECT_TIMEOUT_MS: positiveInt(10_000),
      OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
    }),
    env,
  );
  return {
    auth: authConfig(c),
    serviceToken: serviceToken(c.NODE_ENV, c.SERVICE_TOKEN),
    otlpEndpoint: c.OTEL_EXPORTER_OTLP_ENDPOINT,
    groupPolicy: c.GROUP_POLICY,
    limits: {
      eventsPerSecond: c.RATE_LIMIT_EVENTS_PER_SEC,
      eventBurst: c.RATE_LIMIT_EVENT_BURST,
      userEventsPerSecond: c.RATE_LIMIT_USER_EVENTS_PER_SEC,
      userEventBurst: c.RATE_LIMIT_USER_EVENT_BURST,
      maxSocketsPerUser: c.MAX_SOCKETS_PER_USER,
      maxConnections: c.MAX_CONNECTIONS,
      maxBufferedPackets: c.MAX_BUFFERED_PACKETS,
      pingIntervalMs: c.PING_INTERVAL_MS,
      pingTimeoutMs: c.PING_TIMEOUT_MS,
      connectTimeoutMs: c.CONNECT_TIMEOUT_MS,
    },
    env: c.NODE_ENV,
    host: c.HOST,
    port: c.PORT,
    corsOrigins: c.CORS_ALLOWED_ORIGINS,
    // Both files, or no TLS: a lone SSL_CERT_FILE is OpenSSL's CA-bundle convention.
    tls: c.SSL_CERT_FILE && c.SSL_KEY_FILE ? { certFile: c.SSL_CERT_FILE, keyFile: c.SSL_KEY_FILE } : undefined,
    roomsUrl: c.ROOMS_URL,
    messagesUrl: c.MESSAGES_URL,
    deliveryUrl: c.DELIVERY_URL,
    serviceDiscovery: c.SERVICE_DISCOVERY,
    servicesCaFile: c.SERVICES_CA_FILE,
    rpcTimeoutMs: c.RPC_TIMEOUT_MS,
    natsServers: c.NATS_URL,
    subjectPrefix: c.NATS_SUBJECT_PREFIX,
    maxMessageLength: c.MAX_MESSAGE_LENGTH,
    maxHttpBufferSize: c.MAX_HTTP_BUFFER_SIZE,
    catchUpLimit: c.CATCH_UP_LIMIT,
    catchUpConcurrency: c.CATCH_UP_CONCURRENCY,
    reorderWindowMs: c.REORDER_WINDOW_MS,
    maxPendingEvents: c.MAX_PENDING_EVENTS,
    maxEventWaitMs: c.MAX_EVENT_WAIT_MS,
    sendLatencyTargetMs: c.SEND_LATENCY_TARGET_MS,
    edgeId: c.EDGE_ID ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 40)}-${randomBytes(3).toString("hex")}`,
    presenceHeartbeatMs: c.PRESENCE_HEARTBEAT_MS,
    presenceGraceMs: c.PRESENCE_GRACE_MS,
    typingTtlMs: c.TYPING_TTL_MS,
    logLevel: c.LOG_LEVEL,
    demoPage: c.DEMO_PAGE === undefined ? c.NODE_ENV !== "production" : c.DEMO_PAGE === "true" || c.DEMO_PAGE === "1",
  };
}

/**
 * JWTs are required when a public key or JWKS is configured, or when SECRET_KEY is set in
 * production (or AUTH_REQUIRED=true). In development the guide's .env sets SECRET_KEY for
 * other purposes, so it alone keeps the guide's bare user_id. Production without any key
 * refuses to start.
 */
function authConfig(c: {
  NODE_ENV: string;
  SECRET_KEY?: string | undefined;
  JWT_PUBLIC_KEY?: string | undefined;
  JWT_PUBLIC_KEY_FILE?: string | undefined;
  JWT_JWKS_URL?: string | undefined;
  JWT_ISSUER?: string | undefined;
  JWT_AUDIENCE?: string | undefined;
  AUTH_REQUIRED?: "true" | "false" | undefined;
}): AuthConfig {
  const publicKey = c.JWT_PUBLIC_KEY ?? (c.JWT_PUBLIC_KEY_FILE ? readFileSync(c.JWT_PUBLIC_KEY_FILE, "utf8") : undefined);
  const production = c.NODE_ENV === "production";
  const required =
    c.AUTH_REQUIRED === "true" || publicKey !== undefined || c.JWT_JWKS_URL !== undefined || (c.SECRET_KEY !== undefined && production);
  if (!required) {
    if (production) throw new ConfigError("invalid configuration: production needs SECRET_KEY, JWT_PUBLIC_KEY(_FILE) or JWT_JWKS_URL to authenticate clients");
    return { mode: "none" };
  }
  if (!c.SECRET_KEY && !publicKey && !c.JWT_JWKS_URL)
    throw new ConfigError("invalid configuration: AUTH_REQUIRED=true needs SECRET_KEY, JWT_PUBLIC_KEY(_FILE) or JWT_JWKS_URL");
  if (c.SECRET_KEY !== undefined && Buffer.byteLength(c.SECRET_KEY) < 32)
    throw new ConfigError("invalid configuration: SECRET_KEY must be at least 32 bytes to sign HS256 tokens");
  return {
    mode: "jwt",
    ...(c.SECRET_KEY ? { secret: c.SECRET_KEY } : {}),
    ...(publicKey ? { publicKey } : {}),
    ...(c.JWT_JWKS_URL ? { jwksUrl: c.JWT_JWKS_URL } : {}),
    ...(c.JWT_ISSUER ? { issuer: c.JWT_ISSUER } : {}),
    ...(c.JWT_AUDIENCE ? { audience: c.JWT_AUDIENCE } : {}),
  };
}

function serviceToken(env: string, token: string | undefined): string | undefined {
  if (env === "production" && token === undefined) throw new ConfigError("invalid configuration: SERVICE_TOKEN is required in production");
  return token;
}
