import type { CheckContext } from "../context.js";

/**
 * The check of one RPC: calls it on a real deployment and asserts what the contract promises
 * (with node:assert, whose messages name the values). Throwing fails the check.
 */
export type Check = (t: CheckContext) => Promise<void>;

/** Checks by RPC, keyed `package.Service/Method`, as the .proto files name them. */
export type Checks = Record<string, Check>;
