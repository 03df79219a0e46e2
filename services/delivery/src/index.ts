import { createNatsBus, createServiceClient, migrateOnly, startService, subjects, watchBus, type EventBus, type Logger, type RunningServer } from "@redup/kit";
import { RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import * as schema from "./db/schema.js";
import type { Config } from "./config.js";
import { createEventPublisher } from "./events.js";
import { startPresenceReaper } from "./presence.js";
import { startReceiptFeedPruner } from "./receipt-feed.js";
import { createRoutes, SERVICE_NAMES } from "./server.js";

export { loadConfig, type Config } from "./config.js";

const MIGRATIONS = new URL("./db/migrations", import.meta.url);

/**
 * Starts the delivery service: migrations, pool, rooms client, event bus, server. A bus can
 * be passed in (the embedded single-process mode); otherwise NATS at config.natsServers.
 */
export function startDelivery(config: Config, logger: Logger, bus?: EventBus): Promise<RunningServer> {
  return startService({
    config,
    logger,
    schema,
    migrations: MIGRATIONS,
    serviceNames: SERVICE_NAMES,
    build: ({ db, metrics }) => {
      const rooms = createServiceClient(RoomsService, {
        baseUrl: config.roomsUrl,
        timeoutMs: config.rpcTimeoutMs,
        caFile: config.servicesCaFile,
        token: config.serviceToken,
        discovery: config.serviceDiscovery,
      });
      const eventBus = bus ?? createNatsBus({ servers: config.natsServers, name: "redup-delivery", logger });
      watchBus(metrics, eventBus);
      const events = createEventPublisher(eventBus, subjects(config.subjectPrefix), logger, metrics);
      const reaper = startPresenceReaper({ db, events }, logger, config.presenceEdgeTimeoutMs);
      const pruner = startReceiptFeedPruner(db, config.changeFeedRetentionSeconds, logger);
      return {
        routes: createRoutes({ db, rooms, logger, events }),
        async close() {
          await reaper.stop();
          await pruner.stop();
          // A bus passed in belongs to the caller.
          if (!bus) await eventBus.close();
        },
      };
    },
  });
}

export const migrateDelivery = (config: Config, logger: Logger) => migrateOnly(config, logger, MIGRATIONS);
