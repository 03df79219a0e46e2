import { z } from "zod";

/** Thrown by loadEnv; its message names every missing or bad variable at once. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export type Env = Record<string, string | undefined>;

/**
 * Validates `env` against a zod object schema whose keys are variable names.
 * Empty strings count as unset, so `FOO=` in a .env file falls back to the default.
 */
export function loadEnv<S extends z.ZodObject>(schema: S, env: Env): z.infer<S> {
  const cleaned: Env = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    cleaned[key] = value === undefined || value.trim() === "" ? undefined : value.trim();
  }
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(env)"}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  return Object.freeze(parsed.data) as z.infer<S>;
}

/** A TCP port number given as a string. */
export const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

/** A positive integer given as a string. */
export const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** One http(s) URL, or several comma separated (a service's replicas). */
export const httpUrls = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value) => value.split(",").map((u) => u.trim()).filter(Boolean))
    .refine((urls) => urls.length > 0 && urls.every((u) => /^https?:\/\/[^\s/]+/.test(u) && URL.canParse(u)), "must be http:// or https:// URLs, comma separated")
    .transform((urls) => urls.join(","));

/** A postgres:// connection string, or pglite:<directory> for embedded PostgreSQL. */
export const databaseUrl = z
  .string()
  .refine(
    (value) => /^pglite:.+/.test(value) || /^postgres(ql)?:\/\/[^\s]+$/.test(value),
    "must be a postgres:// URL or pglite:<directory>",
  );

/** A nats:// (or tls://) server list, comma separated. */
export const natsServers = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value) => value.split(",").map((s) => s.trim()).filter(Boolean))
    .refine((servers) => servers.length > 0, "must name at least one server");

export const logLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info");

export const nodeEnv = z.enum(["development", "production", "test"]).default("development");

/** `<SERVICE>_X` wins over `X`, so services can share a database or use one each. */
export function prefixed(env: Env, service: string, name: string): string | undefined {
  const own = env[`${service.toUpperCase()}_${name}`];
  return own !== undefined && own.trim() !== "" ? own : env[name];
}

/** The default addresses of the three services, in one place. */
export const DEFAULT_PORTS = { rooms: 50051, messages: 50052, delivery: 50053 } as const;
export const DEFAULT_URLS = {
  rooms: `http://127.0.0.1:${DEFAULT_PORTS.rooms}`,
  messages: `http://127.0.0.1:${DEFAULT_PORTS.messages}`,
  delivery: `http://127.0.0.1:${DEFAULT_PORTS.delivery}`,
} as const;
export const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

export { z };

/** Where the other services are, as zod fields keyed by variable name. */
export const serviceUrlVars = {
  ROOMS_URL: httpUrls(DEFAULT_URLS.rooms),
  MESSAGES_URL: httpUrls(DEFAULT_URLS.messages),
  DELIVERY_URL: httpUrls(DEFAULT_URLS.delivery),
  /** "dns": resolve each service host name to all its addresses (one replica each), again every 10 s. */
  SERVICE_DISCOVERY: z.enum(["static", "dns"]).default("static"),
  /** PEM bundle trusted for https service URLs (self-signed clusters). */
  SERVICES_CA_FILE: z.string().optional(),
  /** Deadline of a call to another service. */
  RPC_TIMEOUT_MS: positiveInt(5000),
};

/** NATS server list and the subject prefix, as zod fields keyed by variable name. */
/** How long the change feeds (messages' and delivery's) keep changes: 3 days by default. */
export const changeFeedVars = {
  CHANGE_FEED_RETENTION_SECONDS: positiveInt(3 * 24 * 3600),
};

export const natsVars = {
  NATS_URL: natsServers(DEFAULT_NATS_URL),
  NATS_SUBJECT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be dot-separated tokens without wildcards")
    .default("redup"),
};
