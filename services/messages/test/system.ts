import { createLogger, createServiceClient, type RunningServer } from "@redup/kit";
import { coreTestEnv, createTestDatabase, type TestDatabase } from "@redup/kit/testing";
import { loadConfig as deliveryConfig, startDelivery } from "@redup/delivery";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { loadConfig as roomsConfig, startRooms } from "@redup/rooms";
import { loadConfig, startMessages } from "../src/index.js";

export const logger = createLogger({ service: "messages-test", level: "silent" });

/** The three services in-process on free ports, one fresh database, a unique NATS prefix. */
export interface TestSystem {
  db: TestDatabase;
  prefix: string;
  natsUrl: string;
  rooms: RunningServer;
  delivery: RunningServer;
  messages: RunningServer;
  env: Record<string, string>;
  clients: {
    rooms: ReturnType<typeof createServiceClient<typeof RoomsService>>;
    messages: ReturnType<typeof createServiceClient<typeof MessagesService>>;
    delivery: ReturnType<typeof createServiceClient<typeof DeliveryService>>;
  };
  close(): Promise<void>;
}

export async function startTestSystem(extraEnv: Record<string, string> = {}): Promise<TestSystem> {
  const db = await createTestDatabase("msg");
  const env = coreTestEnv(db.url, {
    DISPATCH_RETRY_INTERVAL_MS: "200",
    ROOMS_METRICS_PORT: "0",
    MESSAGES_METRICS_PORT: "0",
    DELIVERY_METRICS_PORT: "0",
    ...extraEnv,
  });
  const prefix = env["NATS_SUBJECT_PREFIX"]!;
  const natsUrl = env["NATS_URL"]!;
  const rooms = await startRooms(roomsConfig(env), logger);
  env["ROOMS_URL"] = rooms.url;
  const delivery = await startDelivery(deliveryConfig(env), logger);
  if (!extraEnv["DELIVERY_URL"]) env["DELIVERY_URL"] = delivery.url;
  const messages = await startMessages(loadConfig(env), logger);
  const clients = {
    rooms: createServiceClient(RoomsService, { baseUrl: rooms.url }),
    messages: createServiceClient(MessagesService, { baseUrl: messages.url }),
    delivery: createServiceClient(DeliveryService, { baseUrl: delivery.url }),
  };
  return {
    db,
    prefix,
    natsUrl,
    rooms,
    delivery,
    messages,
    env,
    clients,
    async close() {
      await messages.close();
      await delivery.close();
      await rooms.close();
      await db.drop();
    },
  };
}
