import { createLogger, defaultLogFormat, type Env, type Stoppable } from "@redup/kit";
import { loadConfig as edgeConfig, startEdge, type EdgeServer } from "@redup/edge";
import { embed } from "./embedded.js";
import { startCoreServices, type CoreServices } from "@redup/system";

export interface System extends Stoppable {
  core: CoreServices;
  edge: EdgeServer;
}

/**
 * The whole system in one process: rooms, delivery, messages and the edge, each with its own
 * server and port, calling each other over gRPC as in production. close() stops the edge
 * first (no new messages, in-flight ones finish), then the services, then the bus.
 */
export async function startSystem(env: Env): Promise<System> {
  const { env: wired, bus, notes } = embed(env);
  const level = env["LOG_LEVEL"] ?? "info";
  // Readable lines in a terminal, JSON in production and when piped.
  const format = defaultLogFormat(env["NODE_ENV"]);
  const logger = createLogger({ service: "system", level, format });
  for (const note of notes) logger.info(note);
  const core = await startCoreServices(wired, { ...(bus ? { bus } : {}), logLevel: level, logFormat: format });
  try {
    const edge = await startEdge(edgeConfig(core.env), createLogger({ service: "edge", level, format }), bus);
    return {
      core,
      edge,
      async close() {
        await edge.close();
        await core.close();
        await bus?.close();
      },
    };
  } catch (err) {
    await core.close();
    await bus?.close();
    throw err;
  }
}
