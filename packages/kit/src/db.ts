import { mkdirSync } from "node:fs";
import pg from "pg";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import type { Logger } from "pino";
import { Code } from "@connectrpc/connect";
import { SpanKind } from "@opentelemetry/api";
import { toConnectError } from "./errors.js";
import { inSpan, tracingEnabled } from "./tracing.js";
import { safeUrl } from "./logger.js";

export type { NodePgDatabase };

/** `pglite:<directory>` (or `pglite:memory`) selects embedded PostgreSQL instead of a server. */
export const isEmbeddedDatabase = (url: string) => url.startsWith("pglite:");

/** A service's database: drizzle over a PostgreSQL pool, or over embedded PGlite. */
export type Db<TSchema extends Record<string, unknown> = Record<string, unknown>> = PgDatabase<PgQueryResultHKT, TSchema>;

export interface PoolOptions {
  /** Most connections in the pool. */
  max?: number;
  /** How long to wait for a connection before failing (Unavailable). */
  connectTimeoutMs?: number;
  /** Server-side statement timeout. */
  statementTimeoutMs?: number;
}

/**
 * A pg pool with every timeout set, so an outage answers quickly instead of hanging.
 * Errors on idle clients (a restarted server) are logged, never thrown: the pool
 * replaces the client on the next checkout, which is how the service recovers by itself.
 */
export function createPool(url: string, logger: Logger, options: PoolOptions = {}): pg.Pool {
  const statementTimeout = options.statementTimeoutMs ?? 5000;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeout,
    query_timeout: statementTimeout + 1000,
    lock_timeout: statementTimeout,
    idle_in_transaction_session_timeout: statementTimeout * 2,
    keepAlive: true,
    application_name: logger.bindings()["service"] as string | undefined,
  });
  pool.on("error", (err) => logger.warn({ err: { message: err.message }, db: safeUrl(url) }, "[DB-ERROR] idle client error"));
  // pg stops listening for errors on a client while it is checked out: without this, a
  // connection dying mid-transaction would be an uncaught exception.
  pool.on("connect", (client) => {
    client.on("error", (err) => logger.warn({ err: { message: err.message }, db: safeUrl(url) }, "[DB-ERROR] connection lost"));
    if (tracingEnabled()) traceQueries(client);
  });
  // pool.query hands its client a callback (untraced below), so it is traced here.
  if (tracingEnabled()) traceQueries(pool);
  return pool;
}

/** The pool behind each node-postgres Db, for transactions on a checked-out connection. */
const pools = new WeakMap<object, pg.Pool>();

export function createDb<TSchema extends Record<string, unknown>>(pool: pg.Pool, schema: TSchema): Db<TSchema> {
  const db = drizzle({ client: pool, schema });
  pools.set(db, pool);
  return db;
}

/** A span per SQL statement (its text, never its parameters), when tracing is on. */
function traceQueries(client: pg.PoolClient | pg.Pool): void {
  const original = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const first = args[0] as { text?: string; submit?: unknown } | string;
    // Submittables (cursors, streams) and callback calls keep pg's own return value.
    if (typeof first === "object" && typeof first?.submit === "function") return original(...args);
    if (typeof args[args.length - 1] === "function") return original(...args);
    const text = typeof first === "string" ? first : (first?.text ?? "");
    return inSpan("db.query", SpanKind.CLIENT, { "db.system": "postgresql", "db.statement": text.slice(0, 2000) }, () => original(...args) as Promise<unknown>);
  };
}

type Transaction = PgTransaction<PgQueryResultHKT, Record<string, unknown>, never>;

/**
 * Runs `fn` in a transaction. On PostgreSQL it checks a connection out itself and always
 * gives it back — destroying it when it failed as a connection (drizzle's own pool
 * transactions do not release the connection when BEGIN itself fails, which leaked it).
 * PGlite has one connection, so drizzle's transaction is used as is.
 */
export async function transaction<T>(db: Db<Record<string, unknown>>, fn: (tx: Transaction) => Promise<T>): Promise<T> {
  const pool = pools.get(db);
  if (!pool) return db.transaction((tx) => fn(tx as unknown as Transaction));
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    return await drizzle({ client }).transaction((tx) => fn(tx as unknown as Transaction));
  } catch (err) {
    const code = toConnectError(err).code;
    if (code === Code.Unavailable || code === Code.DeadlineExceeded) broken = err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}

/** A query as both drivers run it: node-postgres (Pool) and PGlite. */
interface RawClient {
  query(config: { name?: string; text: string; values: unknown[] } | string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * Runs one statement straight on the driver, for a hot path whose SQL text never changes:
 * on PostgreSQL it is a named prepared statement, parsed and planned once per connection
 * (Drizzle sends every statement unnamed, so it is parsed and planned on each call), and
 * arrays go as single parameters (`$1::bigint[]` with unnest) rather than one parameter per
 * value. Rows come back as the driver returns them, with the statement's column names.
 */
export async function preparedQuery<R>(db: Db<Record<string, unknown>>, name: string, text: string, values: unknown[]): Promise<R[]> {
  const pool = pools.get(db);
  if (pool) return (await pool.query({ name, text, values })).rows as R[];
  const client = (db as unknown as { $client: RawClient }).$client;
  return (await client.query(text, values)).rows as R[];
}

/** Answers whether the database takes queries now; used by health checks. */
export async function pingDatabase(pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query("select 1");
    return true;
  } catch {
    return false;
  }
}

export interface MigrationOptions {
  url: string;
  /** The folder of drizzle-kit migrations (with meta/_journal.json). */
  migrationsFolder: string;
  /** Each service keeps its own migrations table, so services can share one database. */
  migrationsTable: string;
  logger: Logger;
}

/**
 * Applies pending migrations on a dedicated connection under one advisory lock shared by
 * every service, so replicas (and services sharing a database) never migrate concurrently.
 */
export async function runMigrations(options: MigrationOptions): Promise<void> {
  const client = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query("select pg_advisory_lock(hashtext($1))", ["redup:migrate"]);
    await migrate(drizzle({ client }), {
      migrationsFolder: options.migrationsFolder,
      migrationsTable: options.migrationsTable,
      migrationsSchema: "drizzle",
    });
    options.logger.info({ table: options.migrationsTable }, "[DB] migrations applied");
  } finally {
    await client.query("select pg_advisory_unlock(hashtext($1))", ["redup:migrate"]).catch(() => {});
    await client.end().catch(() => {});
  }
}

/** An open database of either kind, with what the service needs to run on it. */
export interface Database<TSchema extends Record<string, unknown>> {
  readonly db: Db<TSchema>;
  readonly kind: "postgres" | "pglite";
  /** Applies the service's pending migrations. */
  migrate(options: Omit<MigrationOptions, "url">): Promise<void>;
  ping(): Promise<boolean>;
  /** Connections by state, for metrics. */
  stats(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

/**
 * Opens a service's database: a pg pool with every timeout set for a postgres:// URL, or
 * an embedded PGlite whose files live in the directory of a `pglite:` URL (kept across
 * restarts; `pglite:memory` keeps nothing).
 */
export async function openDatabase<TSchema extends Record<string, unknown>>(
  url: string,
  schema: TSchema,
  logger: Logger,
  options: PoolOptions = {},
): Promise<Database<TSchema>> {
  if (isEmbeddedDatabase(url)) {
    const dir = url.slice("pglite:".length);
    // Loaded only in embedded mode: production images never initialise PGlite.
    const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
      import("@electric-sql/pglite"),
      import("drizzle-orm/pglite"),
      import("drizzle-orm/pglite/migrator"),
    ]);
    if (dir !== "memory") mkdirSync(dir, { recursive: true });
    const client = await PGlite.create(dir === "memory" ? undefined : dir);
    const db = drizzlePglite({ client, schema });
    return {
      db: db as unknown as Db<TSchema>,
      kind: "pglite",
      async migrate(m) {
        await migratePglite(db, { migrationsFolder: m.migrationsFolder, migrationsTable: m.migrationsTable, migrationsSchema: "drizzle" });
        m.logger.info({ table: m.migrationsTable, embedded: dir }, "[DB] migrations applied");
      },
      async ping() {
        try {
          await client.query("select 1");
          return true;
        } catch {
          return false;
        }
      },
      stats: () => ({ total: 1, idle: 0, waiting: 0 }),
      close: () => client.close(),
    };
  }
  const pool = createPool(url, logger, options);
  return {
    db: createDb(pool, schema),
    kind: "postgres",
    migrate: (m) => runMigrations({ ...m, url }),
    ping: () => pingDatabase(pool),
    stats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => pool.end(),
  };
}
