import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { loadEnv, logLevel, natsVars, nodeEnv, port, positiveInt, serviceUrlVars, z, type Env, type TlsFiles } from "@redup/kit";

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
  servicesCaFile: string | undefined;
  rpcTimeoutMs: number;
  natsServers: string[];
  subjectPrefix: string;
  maxMessageLength: number;
  /** Longest payload a socket may send in one packet, in bytes. */
  maxHttpBufferSize: number;
  /** Most pending messages replayed to one connecting socket. */
  catchUpLimit: number;
  /** This edge's name in events it publishes and in logs. */
  edgeId: string;
  logLevel: string;
  /** Serve the /demo page (on by default outside production). */
  demoPage: boolean;
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
      EDGE_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
      LOG_LEVEL: logLevel,
      DEMO_PAGE: z.enum(["true", "false", "1", "0"]).optional(),
    }),
    env,
  );
  return {
    env: c.NODE_ENV,
    host: c.HOST,
    port: c.PORT,
    corsOrigins: c.CORS_ALLOWED_ORIGINS,
    // Both files, or no TLS: a lone SSL_CERT_FILE is OpenSSL's CA-bundle convention.
    tls: c.SSL_CERT_FILE && c.SSL_KEY_FILE ? { certFile: c.SSL_CERT_FILE, keyFile: c.SSL_KEY_FILE } : undefined,
    roomsUrl: c.ROOMS_URL,
    messagesUrl: c.MESSAGES_URL,
    deliveryUrl: c.DELIVERY_URL,
    servicesCaFile: c.SERVICES_CA_FILE,
    rpcTimeoutMs: c.RPC_TIMEOUT_MS,
    natsServers: c.NATS_URL,
    subjectPrefix: c.NATS_SUBJECT_PREFIX,
    maxMessageLength: c.MAX_MESSAGE_LENGTH,
    maxHttpBufferSize: c.MAX_HTTP_BUFFER_SIZE,
    catchUpLimit: c.CATCH_UP_LIMIT,
    edgeId: c.EDGE_ID ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 40)}-${randomBytes(3).toString("hex")}`,
    logLevel: c.LOG_LEVEL,
    demoPage: c.DEMO_PAGE === undefined ? c.NODE_ENV !== "production" : c.DEMO_PAGE === "true" || c.DEMO_PAGE === "1",
  };
}
