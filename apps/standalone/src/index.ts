export { startSystem, type System } from "./all-in-one.js";
export { embed, type Embedding } from "./embedded.js";
