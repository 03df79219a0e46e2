import { createServiceClient, migrateOnly, startService, type Logger, type RunningServer } from "@redup/kit";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import * as schema from "./db/schema.js";
import type { Config } from "./config.js";
import { createDispatcher } from "./dispatcher.js";
import { createMembershipCheck } from "./membership.js";
import { createRoomDirectory } from "./rooms.js";
import { createMessageWriter } from "./writer.js";
import { createRoutes, SERVICE_NAMES } from "./server.js";

export { loadConfig, type Config } from "./config.js";

const MIGRATIONS = new URL("./db/migrations", import.meta.url);

/** Starts the messages service: migrations, pool, clients of rooms and delivery, outbox worker, server. */
export function startMessages(config: Config, logger: Logger): Promise<RunningServer> {
  return startService({
    config,
    logger,
    schema,
    migrations: MIGRATIONS,
    serviceNames: SERVICE_NAMES,
    build: ({ db, metrics }) => {
      const clientOptions = { timeoutMs: config.rpcTimeoutMs, caFile: config.servicesCaFile, token: config.serviceToken };
      const rooms = createServiceClient(RoomsService, { baseUrl: config.roomsUrl, ...clientOptions });
      const delivery = createServiceClient(DeliveryService, { ...clientOptions, baseUrl: config.deliveryUrl, timeoutMs: config.dispatchTimeoutMs });
      const directory = createRoomDirectory(rooms);
      const dispatcher = createDispatcher({ db, delivery, rooms: directory, logger, metrics, intervalMs: config.dispatchRetryIntervalMs });
      dispatcher.start();
      const write = createMessageWriter({ db, dispatcher, metrics, maxBatch: config.sendBatchMax });
      return {
        routes: createRoutes({ db, isMember: createMembershipCheck(rooms), directory, write, logger, maxMessageLength: config.maxMessageLength }),
        close: () => dispatcher.stop(),
      };
    },
  });
}

export const migrateMessages = (config: Config, logger: Logger) => migrateOnly(config, logger, MIGRATIONS);
