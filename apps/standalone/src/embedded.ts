import { resolve } from "node:path";
import { createLocalBus, type Env, type EventBus } from "@redup/kit";

export const SERVICES = ["rooms", "messages", "delivery"] as const;

export interface Embedding {
  /** The environment with embedded database URLs filled in where none was configured. */
  env: Env;
  /** The in-process bus when no NATS_URL is configured. */
  bus: EventBus | undefined;
  /** What was embedded, for the start log. */
  notes: string[];
}

/**
 * Decides what runs embedded: without DATABASE_URL (or a service's own *_DATABASE_URL) a
 * service gets PGlite in DATA_DIR/<service> (default ./data), kept across restarts; without
 * NATS_URL the services and the edge share an in-process bus. Configured servers are used
 * unchanged.
 */
export function embed(env: Env): Embedding {
  const out: Env = { ...env };
  const notes: string[] = [];
  const dataDir = resolve(env["DATA_DIR"] || "data");
  if (!env["DATABASE_URL"]) {
    const embedded = SERVICES.filter((svc) => !env[`${svc.toUpperCase()}_DATABASE_URL`]);
    for (const svc of embedded) out[`${svc.toUpperCase()}_DATABASE_URL`] = `pglite:${resolve(dataDir, svc)}`;
    if (embedded.length > 0) notes.push(`[EMBEDDED] PostgreSQL: PGlite for ${embedded.join(", ")} under ${dataDir} (set DATABASE_URL to use a server)`);
  }
  let bus: EventBus | undefined;
  if (!env["NATS_URL"]) {
    bus = createLocalBus();
    notes.push("[EMBEDDED] events: in-process bus; it reaches only edges in this process (set NATS_URL to run several edges)");
  }
  return { env: out, bus, notes };
}
