import { createLogger, defaultLogFormat, runMain, withTracing } from "@redup/kit";
import { loadConfig, startEdge } from "./index.js";

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  process.stderr.write(`edge: ${(err as Error).message}\n`);
  process.exit(1);
}
const logger = createLogger({ service: "edge", level: config.logLevel, format: defaultLogFormat(config.env) });
runMain(logger, () => withTracing("redup-edge", config.otlpEndpoint, () => startEdge(config, logger)));
