import { deliveryChecks } from "./delivery.js";
import { messagesChecks } from "./messages.js";
import { roomsChecks } from "./rooms.js";
import { sharedChecks } from "./shared.js";
import type { Checks } from "./types.js";

export { extraChecks, type ExtraCheck } from "./extra.js";
export { connectAs, edgeChecks, type EdgeCheck } from "./edge.js";
export { SHARED_SERVICES } from "./shared.js";
export type { Check, Checks } from "./types.js";

/**
 * Every RPC's check. A new RPC needs one entry in its service's file (the runner reports
 * it "not covered" until then); a removed RPC's entry is reported as stale.
 */
export const rpcChecks: Checks = { ...roomsChecks, ...messagesChecks, ...deliveryChecks, ...sharedChecks };
