import { changeFeedVars, DEFAULT_PORTS, loadEnv, natsVars, positiveInt, readBaseServiceConfig, serviceUrlVars, z, type BaseServiceConfig, type Env } from "@redup/kit";

export interface Config extends BaseServiceConfig {
  roomsUrl: string;
  deliveryUrl: string;
  serviceDiscovery: "static" | "dns";
  servicesCaFile: string | undefined;
  rpcTimeoutMs: number;
  natsServers: string[];
  subjectPrefix: string;
  /** Longest accepted message text, in characters. */
  maxMessageLength: number;
  /** How often the outbox is scanned for hand-offs that did not complete. */
  dispatchRetryIntervalMs: number;
  /** Deadline of the hand-off to delivery (recording a batch's recipients). */
  dispatchTimeoutMs: number;
  /** Most messages stored by one statement and handed off by one DispatchMany call. */
  sendBatchMax: number;
  /** Store lanes: statements running at once, each for its own share of the rooms. */
  storeLanes: number;
  /** Sends that may wait in one store lane before new ones are refused (ResourceExhausted). */
  storeQueueMax: number;
  /** How long the change feed keeps changes. */
  changeFeedRetentionSeconds: number;
}

/** The only reader of the environment for the messages service. */
export function loadConfig(env: Env = process.env): Config {
  const own = loadEnv(
    z.object({
      ...serviceUrlVars,
      ...natsVars,
      MAX_MESSAGE_LENGTH: positiveInt(4000),
      DISPATCH_RETRY_INTERVAL_MS: positiveInt(1000),
      DISPATCH_TIMEOUT_MS: positiveInt(2000),
      SEND_BATCH_MAX: z.coerce.number().int().min(1).max(1000).default(256),
      STORE_LANES: z.coerce.number().int().min(1).max(64).default(2),
      STORE_QUEUE_MAX: positiveInt(2048),
      ...changeFeedVars,
    }),
    env,
  );
  return {
    ...readBaseServiceConfig("messages", env, DEFAULT_PORTS.messages),
    roomsUrl: own.ROOMS_URL,
    deliveryUrl: own.DELIVERY_URL,
    serviceDiscovery: own.SERVICE_DISCOVERY,
    servicesCaFile: own.SERVICES_CA_FILE,
    rpcTimeoutMs: own.RPC_TIMEOUT_MS,
    natsServers: own.NATS_URL,
    subjectPrefix: own.NATS_SUBJECT_PREFIX,
    maxMessageLength: own.MAX_MESSAGE_LENGTH,
    dispatchRetryIntervalMs: own.DISPATCH_RETRY_INTERVAL_MS,
    dispatchTimeoutMs: own.DISPATCH_TIMEOUT_MS,
    sendBatchMax: own.SEND_BATCH_MAX,
    storeLanes: own.STORE_LANES,
    storeQueueMax: own.STORE_QUEUE_MAX,
    changeFeedRetentionSeconds: own.CHANGE_FEED_RETENTION_SECONDS,
  };
}
