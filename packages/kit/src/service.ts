import { fileURLToPath } from "node:url";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ConfigError, databaseUrl, DEFAULT_DATABASE_URL, loadEnv, logLevel, nodeEnv, port, positiveInt, prefixed, z, type Env } from "./config.js";
import { openDatabase, type Db } from "./db.js";
import { createServiceMetrics, rpcMetrics, serveMetrics, type ServiceMetrics } from "./metrics.js";
import { safeUrl } from "./logger.js";
import { startConnectServer, type RunningServer, type TlsFiles } from "./server.js";

export type ServiceName = "rooms" | "messages" | "delivery";

/** What every service reads from the environment. */
export interface BaseServiceConfig {
  service: ServiceName;
  env: "development" | "production" | "test";
  host: string;
  port: number;
  databaseUrl: string;
  dbPoolMax: number;
  dbStatementTimeoutMs: number;
  tls: TlsFiles | undefined;
  logLevel: string;
  /**
   * The credential services require of each other (SERVICE_TOKEN); required in production,
   * optional in development (any caller is accepted, with a warning).
   */
  serviceToken: string | undefined;
  /** Where GET /metrics (Prometheus) is served: unset = off, 0 = any free port. */
  metricsPort: number | undefined;
  /** OTLP/HTTP endpoint for traces (OTEL_EXPORTER_OTLP_ENDPOINT); unset = tracing off. */
  otlpEndpoint: string | undefined;
}

/**
 * Reads the variables every service shares. `<SERVICE>_DATABASE_URL` falls back to
 * `DATABASE_URL`; `<SERVICE>_PORT` is the port; `HOST` the bind address; TLS when both
 * `<SERVICE>_SSL_CERT_FILE`/`SSL_CERT_FILE` and `<SERVICE>_SSL_KEY_FILE`/`SSL_KEY_FILE` are set.
 */
export function readBaseServiceConfig(service: ServiceName, env: Env, defaultPort: number): BaseServiceConfig {
  const up = service.toUpperCase();
  const schema = z.object({
    NODE_ENV: nodeEnv,
    HOST: z.string().default("0.0.0.0"),
    [`${up}_PORT`]: port(defaultPort),
    DATABASE_URL: databaseUrl.default(DEFAULT_DATABASE_URL),
    DB_POOL_MAX: positiveInt(10),
    DB_STATEMENT_TIMEOUT_MS: positiveInt(5000),
    SSL_CERT_FILE: z.string().optional(),
    SSL_KEY_FILE: z.string().optional(),
    LOG_LEVEL: logLevel,
    SERVICE_TOKEN: z.string().min(32, "must be at least 32 characters").optional(),
    [`${up}_METRICS_PORT`]: z.coerce.number().int().min(0).max(65535).optional(),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  });
  const merged: Env = {
    ...env,
    DATABASE_URL: prefixed(env, service, "DATABASE_URL"),
    SSL_CERT_FILE: prefixed(env, service, "SSL_CERT_FILE"),
    SSL_KEY_FILE: prefixed(env, service, "SSL_KEY_FILE"),
  };
  // The port variable's name is computed, so the parsed object is read as a record.
  const parsed: Record<string, unknown> = loadEnv(schema, merged);
  const cert = parsed["SSL_CERT_FILE"] as string | undefined;
  const key = parsed["SSL_KEY_FILE"] as string | undefined;
  // TLS needs both files. SSL_CERT_FILE alone is common in environments where OpenSSL uses
  // it for a CA bundle, so a lone certificate means "no TLS", as in the guide.
  const serviceToken = parsed["SERVICE_TOKEN"] as string | undefined;
  if (parsed["NODE_ENV"] === "production" && serviceToken === undefined) {
    throw new ConfigError("invalid configuration: SERVICE_TOKEN is required in production (services accept calls only from its holders)");
  }
  return {
    service,
    serviceToken,
    metricsPort: parsed[`${up}_METRICS_PORT`] as number | undefined,
    otlpEndpoint: parsed["OTEL_EXPORTER_OTLP_ENDPOINT"] as string | undefined,
    env: parsed["NODE_ENV"] as BaseServiceConfig["env"],
    host: parsed["HOST"] as string,
    port: parsed[`${up}_PORT`] as number,
    databaseUrl: parsed["DATABASE_URL"] as string,
    dbPoolMax: parsed["DB_POOL_MAX"] as number,
    dbStatementTimeoutMs: parsed["DB_STATEMENT_TIMEOUT_MS"] as number,
    tls: cert && key ? { certFile: cert, keyFile: key } : undefined,
    logLevel: parsed["LOG_LEVEL"] as string,
  };
}

export interface ServiceContext<TSchema extends Record<string, unknown>> {
  db: Db<TSchema>;
  logger: Logger;
  metrics: ServiceMetrics;
}

export interface ServiceParts {
  routes: (router: ConnectRouter) => void;
  interceptors?: Interceptor[];
  /** Extra readiness beyond the database answering. */
  ready?: () => Promise<boolean>;
  /** Stops what build() started (background loops, clients, NATS), after the server closes. */
  close?: () => Promise<void>;
}

export interface StartServiceOptions<TSchema extends Record<string, unknown>> {
  config: BaseServiceConfig;
  logger: Logger;
  schema: TSchema;
  /** The drizzle-kit migrations folder, as a file URL relative to the caller. */
  migrations: URL;
  serviceNames: string[];
  build: (ctx: ServiceContext<TSchema>) => ServiceParts | Promise<ServiceParts>;
}

const migrationOptions = (config: BaseServiceConfig, logger: Logger, migrations: URL) => ({
  migrationsFolder: fileURLToPath(migrations),
  migrationsTable: `__migrations_${config.service}`,
  logger,
});

/**
 * The common start sequence: open the database → migrate → build the service → serve.
 * The returned close() stops accepting, finishes in-flight calls, then stops the service's
 * own parts and the database, in that order.
 */
export async function startService<TSchema extends Record<string, unknown>>(
  options: StartServiceOptions<TSchema>,
): Promise<RunningServer> {
  const { config, logger } = options;
  const database = await openDatabase(config.databaseUrl, options.schema, logger, {
    max: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
  });
  try {
    await database.migrate(migrationOptions(config, logger, options.migrations));
  } catch (err) {
    await database.close().catch(() => {});
    throw err;
  }
  logger.info({ db: safeUrl(config.databaseUrl), kind: database.kind }, "[DB] ready");
  const metrics = createServiceMetrics(config.service);
  const parts = await options.build({ db: database.db, logger, metrics });
  const extraReady = parts.ready;
  const ready = async () => (await database.ping()) && (extraReady ? await extraReady() : true);
  const server = await startConnectServer({
    routes: parts.routes,
    interceptors: [rpcMetrics(metrics), ...(parts.interceptors ?? [])],
    serviceNames: options.serviceNames,
    ready,
    logger,
    host: config.host,
    port: config.port,
    tls: config.tls,
    serviceToken: config.serviceToken,
  });
  if (config.serviceToken === undefined) logger.warn("[AUTH] no SERVICE_TOKEN: any caller on the network is accepted (development only)");
  logger.info({ url: server.url, services: options.serviceNames }, `[INICIO] ${config.service} listening on ${server.url}`);
  let closing: Promise<void> | undefined;
  const metricsServer =
    config.metricsPort === undefined
      ? undefined
      : await serveMetrics(metrics.registry, config.host, config.metricsPort, async () => {
          const stats = database.stats();
          for (const [state, value] of Object.entries(stats)) metrics.dbPool.set({ state }, value);
          metrics.dbPoolMax.set(database.kind === "postgres" ? config.dbPoolMax : 1);
          // What grpc.health.v1 answers now (NOT_SERVING from the start of shutdown).
          metrics.serving.set(closing === undefined && (await ready().catch(() => false)) ? 1 : 0);
        });
  if (metricsServer) logger.info({ port: metricsServer.port }, `[METRICS] GET /metrics on port ${metricsServer.port}`);
  return {
    port: server.port,
    url: server.url,
    metricsPort: metricsServer?.port,
    close() {
      closing ??= (async () => {
        await server.close();
        await metricsServer?.close();
        await parts.close?.();
        await database.close();
      })();
      return closing;
    },
  };
}

/** Runs only the migrations (the `migrate` command). */
export async function migrateOnly(config: BaseServiceConfig, logger: Logger, migrations: URL): Promise<void> {
  const database = await openDatabase(config.databaseUrl, {}, logger, { max: 1 });
  try {
    await database.migrate(migrationOptions(config, logger, migrations));
  } finally {
    await database.close();
  }
}
