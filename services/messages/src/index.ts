import { createNatsBus, createServiceClient, migrateOnly, startService, subjects, watchBus, watchOutbox, type EventBus, type Logger, type RunningServer } from "@redup/kit";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { outboxBacklog } from "./db/queries.js";
import * as schema from "./db/schema.js";
import type { Config } from "./config.js";
import { startFeedPruner } from "./change-feed.js";
import { createDispatcher } from "./dispatcher.js";
import { createMessageEvents } from "./events.js";
import { createMembershipCheck } from "./membership.js";
import { createRoomDirectory } from "./rooms.js";
import { createMessageWriter } from "./writer.js";
import { createRoutes, SERVICE_NAMES } from "./server.js";

export { loadConfig, type Config } from "./config.js";

const MIGRATIONS = new URL("./db/migrations", import.meta.url);

/**
 * Starts the messages service: migrations, pool, clients of rooms and delivery, the event
 * bus (NATS, or one passed in by the embedded single-process mode), the hand-off worker and
 * the server.
 */
export function startMessages(config: Config, logger: Logger, bus?: EventBus): Promise<RunningServer> {
  return startService({
    config,
    logger,
    schema,
    migrations: MIGRATIONS,
    serviceNames: SERVICE_NAMES,
    build: ({ db, metrics }) => {
      const clientOptions = { timeoutMs: config.rpcTimeoutMs, caFile: config.servicesCaFile, token: config.serviceToken, discovery: config.serviceDiscovery };
      const rooms = createServiceClient(RoomsService, { ...clientOptions, baseUrl: config.roomsUrl });
      const delivery = createServiceClient(DeliveryService, { ...clientOptions, baseUrl: config.deliveryUrl, timeoutMs: config.dispatchTimeoutMs });
      const eventBus = bus ?? createNatsBus({ servers: config.natsServers, name: "redup-messages", logger });
      watchBus(metrics, eventBus);
      watchOutbox(metrics, () => outboxBacklog(db));
      const directory = createRoomDirectory(rooms);
      const events = createMessageEvents(eventBus, subjects(config.subjectPrefix), metrics);
      const dispatcher = createDispatcher({ db, delivery, events, rooms: directory, logger, metrics, intervalMs: config.dispatchRetryIntervalMs, maxBatch: config.sendBatchMax });
      dispatcher.start();
      const pruner = startFeedPruner(db, config.changeFeedRetentionSeconds, logger);
      const write = createMessageWriter({ db, dispatcher, metrics, maxBatch: config.sendBatchMax, lanes: config.storeLanes, maxQueuedPerLane: config.storeQueueMax });
      return {
        routes: createRoutes({
          db,
          isMember: createMembershipCheck(rooms),
          directory,
          write,
          logger,
          maxMessageLength: config.maxMessageLength,
          conversations: {
            userRooms: async (userId) => (await rooms.listUserRooms({ userId })).rooms,
            readState: async (userId, roomIds) => (await delivery.batchGetReadState({ userId, roomIds })).states,
          },
          events,
          published: (id) => dispatcher.published(id),
        }),
        async close() {
          await pruner.stop();
          await dispatcher.stop();
          // A bus passed in belongs to the caller.
          if (!bus) await eventBus.close();
        },
      };
    },
  });
}

export const migrateMessages = (config: Config, logger: Logger) => migrateOnly(config, logger, MIGRATIONS);
