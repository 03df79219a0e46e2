import { DEFAULT_PORTS, loadEnv, positiveInt, readBaseServiceConfig, serviceUrlVars, z, type BaseServiceConfig, type Env } from "@redup/kit";

export interface Config extends BaseServiceConfig {
  roomsUrl: string;
  deliveryUrl: string;
  servicesCaFile: string | undefined;
  rpcTimeoutMs: number;
  /** Longest accepted message text, in characters. */
  maxMessageLength: number;
  /** How often stored-but-undispatched messages are handed to delivery again. */
  dispatchRetryIntervalMs: number;
  /**
   * Deadline of the inline hand-over to delivery. Shorter than callers' deadlines, so a slow
   * delivery makes SendMessage answer dispatched=false instead of timing out after storing.
   */
  dispatchTimeoutMs: number;
  /** Most messages stored by one INSERT and handed over by one DispatchMany call. */
  sendBatchMax: number;
}

/** The only reader of the environment for the messages service. */
export function loadConfig(env: Env = process.env): Config {
  const own = loadEnv(
    z.object({
      ...serviceUrlVars,
      MAX_MESSAGE_LENGTH: positiveInt(4000),
      DISPATCH_RETRY_INTERVAL_MS: positiveInt(1000),
      DISPATCH_TIMEOUT_MS: positiveInt(2000),
      SEND_BATCH_MAX: z.coerce.number().int().min(1).max(1000).default(256),
    }),
    env,
  );
  return {
    ...readBaseServiceConfig("messages", env, DEFAULT_PORTS.messages),
    roomsUrl: own.ROOMS_URL,
    deliveryUrl: own.DELIVERY_URL,
    servicesCaFile: own.SERVICES_CA_FILE,
    rpcTimeoutMs: own.RPC_TIMEOUT_MS,
    maxMessageLength: own.MAX_MESSAGE_LENGTH,
    dispatchRetryIntervalMs: own.DISPATCH_RETRY_INTERVAL_MS,
    dispatchTimeoutMs: own.DISPATCH_TIMEOUT_MS,
    sendBatchMax: own.SEND_BATCH_MAX,
  };
}
