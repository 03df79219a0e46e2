import { createLogger, type Env, type EventBus, type LogFormat, type RunningServer } from "@redup/kit";
import { loadConfig as deliveryConfig, startDelivery } from "@redup/delivery";
import { loadConfig as messagesConfig, startMessages } from "@redup/messages";
import { loadConfig as roomsConfig, startRooms } from "@redup/rooms";

export interface CoreServices {
  rooms: RunningServer;
  delivery: RunningServer;
  messages: RunningServer;
  /** The environment as the services saw it, with each *_URL pointing at the running server. */
  env: Env;
  /** Stops messages, then delivery, then rooms: callers first, so in-flight calls can finish. */
  close(): Promise<void>;
}

export interface CoreOptions {
  /** An event bus shared with the caller (embedded mode); NATS from the env otherwise. */
  bus?: EventBus;
  logLevel?: string;
  /** JSON unless told otherwise (`npm start` in a terminal: pretty). */
  logFormat?: LogFormat;
}

/**
 * Starts rooms, delivery and messages in this process, each on its own port and calling the
 * others over gRPC as in production. Ports of 0 pick free ones; the *_URL variables are set
 * to the servers actually started.
 */
export async function startCoreServices(env: Env, options: CoreOptions = {}): Promise<CoreServices> {
  const level = options.logLevel ?? env["LOG_LEVEL"] ?? "info";
  const log = (service: string) => createLogger({ service, level, format: options.logFormat });
  const wired: Env = { ...env };
  const started: RunningServer[] = [];
  try {
    const rooms = await startRooms(roomsConfig(wired), log("rooms"));
    started.push(rooms);
    wired["ROOMS_URL"] = rooms.url;
    const delivery = await startDelivery(deliveryConfig(wired), log("delivery"), options.bus);
    started.push(delivery);
    wired["DELIVERY_URL"] = delivery.url;
    const messages = await startMessages(messagesConfig(wired), log("messages"), options.bus);
    started.push(messages);
    wired["MESSAGES_URL"] = messages.url;
    return {
      rooms,
      delivery,
      messages,
      env: wired,
      async close() {
        await messages.close();
        await delivery.close();
        await rooms.close();
      },
    };
  } catch (err) {
    for (const server of started.reverse()) await server.close().catch(() => {});
    throw err;
  }
}
