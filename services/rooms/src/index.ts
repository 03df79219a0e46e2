import { migrateOnly, startService, type Logger, type RunningServer } from "@redup/kit";
import * as schema from "./db/schema.js";
import type { Config } from "./config.js";
import { createRoutes, SERVICE_NAMES } from "./server.js";

export { loadConfig, type Config } from "./config.js";

const MIGRATIONS = new URL("./db/migrations", import.meta.url);

/** Starts the rooms service: migrations, pool, Connect server. */
export function startRooms(config: Config, logger: Logger): Promise<RunningServer> {
  return startService({
    config,
    logger,
    schema,
    migrations: MIGRATIONS,
    serviceNames: SERVICE_NAMES,
    build: ({ db }) => ({ routes: createRoutes({ db }) }),
  });
}

export const migrateRooms = (config: Config, logger: Logger) => migrateOnly(config, logger, MIGRATIONS);
