import { createNatsBus, safeUrl, type EventBus, type Logger } from "@redup/kit";
import type { Config } from "./config.js";
import { createEdgeServer, type EdgeServer } from "./server.js";

export { loadConfig, type Config } from "./config.js";
export type { EdgeServer } from "./server.js";
export type * from "./events.js";

/**
 * Starts an edge with the guide's start lines. A bus can be passed in (the embedded
 * single-process mode); otherwise NATS at config.natsServers, closed with the edge.
 */
export async function startEdge(config: Config, logger: Logger, bus?: EventBus): Promise<EdgeServer> {
  const eventBus = bus ?? createNatsBus({ servers: config.natsServers, name: `redup-edge-${config.edgeId}`, logger });
  const server = await createEdgeServer(config, logger, eventBus);
  logger.info({ url: server.url, edgeId: config.edgeId }, `[INICIO] Servidor corriendo en ${config.tls ? "https" : "http"}://${config.host}:${server.port}`);
  logger.info({ origins: config.corsOrigins }, `[CORS] Orígenes permitidos: ${config.corsOrigins === "*" ? "*" : config.corsOrigins.join(", ")}`);
  logger.info({ env: config.env }, `[ENV] Entorno: ${config.env}`);
  logger.info(
    { rooms: config.roomsUrl, messages: config.messagesUrl, delivery: config.deliveryUrl, nats: bus ? "in-process bus" : config.natsServers.map(safeUrl) },
    `[SERVICES] rooms, messages and delivery over gRPC; live events over ${bus ? "the in-process bus" : "NATS"}`,
  );
  if (config.demoPage) logger.info(`[DEMO] ${server.url}/demo (set DEMO_PAGE=false to turn it off)`);
  if (config.auth.mode === "none") {
    logger.warn("[AUTH] no SECRET_KEY/JWT keys: the client's user_id is trusted as is (development, as in the guide); do not expose this edge to the internet");
  } else {
    const kinds = [config.auth.secret && "HS256 (SECRET_KEY)", config.auth.publicKey && "public key", config.auth.jwksUrl && "JWKS"].filter(Boolean);
    logger.info({ kinds }, `[AUTH] clients must present a JWT (${kinds.join(", ")}); its sub is the user id`);
  }
  logger.info({ policy: config.groupPolicy }, `[GROUPS] join policy: ${config.groupPolicy}`);
  return {
    ...server,
    async close() {
      await server.close();
      if (!bus) await eventBus.close();
    },
  };
}
