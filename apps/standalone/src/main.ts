import { createLogger, defaultLogFormat, runMain, withTracing } from "@redup/kit";
import { startSystem } from "./all-in-one.js";

// `npm start`: the whole system in one process, embedded where nothing is configured.
// OTEL_EXPORTER_OTLP_ENDPOINT turns tracing on for the whole process (all four servers).
const logger = createLogger({ service: "system", level: process.env["LOG_LEVEL"] ?? "info", format: defaultLogFormat(process.env["NODE_ENV"]) });
runMain(logger, () =>
  withTracing("redup-standalone", process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] || undefined, () => startSystem(process.env)),
);
