import { randomBytes } from "node:crypto";

/** The NATS tests use: TEST_NATS_URL, else NATS_URL, else the local server. */
export const testNatsUrl = () => process.env["TEST_NATS_URL"] || process.env["NATS_URL"] || "nats://127.0.0.1:4222";

/**
 * The environment for starting the core services in a test: one database, free ports,
 * loopback only, and a NATS subject prefix of its own so tests never see each other's events.
 */
export function coreTestEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    HOST: "127.0.0.1",
    ROOMS_PORT: "0",
    MESSAGES_PORT: "0",
    DELIVERY_PORT: "0",
    NATS_URL: testNatsUrl(),
    NATS_SUBJECT_PREFIX: `t${randomBytes(4).toString("hex")}`,
    ...extra,
  };
}
