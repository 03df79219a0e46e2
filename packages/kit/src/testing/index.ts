export * from "./database.js";
export * from "./nats.js";
export * from "./net.js";
export * from "./wait.js";
export * from "./env.js";
export * from "./codes.js";
export * from "./strict-http2.js";
export * from "./explain.js";
