import { changeFeedVars, DEFAULT_PORTS, loadEnv, natsVars, readBaseServiceConfig, serviceUrlVars, z, type BaseServiceConfig, type Env } from "@redup/kit";

export interface Config extends BaseServiceConfig {
  roomsUrl: string;
  serviceDiscovery: "static" | "dns";
  servicesCaFile: string | undefined;
  rpcTimeoutMs: number;
  natsServers: string[];
  subjectPrefix: string;
  /** An edge silent this long is taken for dead and its users go offline. */
  presenceEdgeTimeoutMs: number;
  /** How long the receipts feed keeps receipts. */
  changeFeedRetentionSeconds: number;
}

/** The only reader of the environment for the delivery service. */
export function loadConfig(env: Env = process.env): Config {
  const own = loadEnv(
    z.object({
      ROOMS_URL: serviceUrlVars.ROOMS_URL,
      SERVICE_DISCOVERY: serviceUrlVars.SERVICE_DISCOVERY,
      SERVICES_CA_FILE: serviceUrlVars.SERVICES_CA_FILE,
      RPC_TIMEOUT_MS: serviceUrlVars.RPC_TIMEOUT_MS,
      ...natsVars,
      PRESENCE_EDGE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(15_000),
      ...changeFeedVars,
    }),
    env,
  );
  return {
    ...readBaseServiceConfig("delivery", env, DEFAULT_PORTS.delivery),
    roomsUrl: own.ROOMS_URL,
    serviceDiscovery: own.SERVICE_DISCOVERY,
    servicesCaFile: own.SERVICES_CA_FILE,
    rpcTimeoutMs: own.RPC_TIMEOUT_MS,
    natsServers: own.NATS_URL,
    subjectPrefix: own.NATS_SUBJECT_PREFIX,
    presenceEdgeTimeoutMs: own.PRESENCE_EDGE_TIMEOUT_MS,
    changeFeedRetentionSeconds: own.CHANGE_FEED_RETENTION_SECONDS,
  };
}
