export { startCoreServices, type CoreOptions, type CoreServices } from "./core.js";
