import { createLogger, runMain } from "@redup/kit";
import { startSystem } from "./all-in-one.js";

// `npm start`: the whole system in one process, embedded where nothing is configured.
runMain(createLogger({ service: "system", level: process.env["LOG_LEVEL"] ?? "info" }), () => startSystem(process.env));
