/**
 * The faults and when they strike. Each fault starts at a fixed fraction of the load window,
 * evenly spaced between 10% and 80% of it, so every one lands while traffic flows whatever
 * the window's length (35 s in CI, minutes locally); their start and end times are recorded
 * so the test can check that they did.
 */
import type { FaultSystem } from "./system.js";

export interface Fault {
  name: string;
  run(): Promise<void>;
}

export interface FaultRecord {
  name: string;
  /** Epoch milliseconds. */
  startedAt: number;
  endedAt: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Takes a link away for `downMs`, then gives it back. */
async function cutFor(proxies: { cut(): Promise<void>; restore(): Promise<void> }[], downMs: number): Promise<void> {
  await Promise.all(proxies.map((p) => p.cut()));
  await pause(downMs);
  await Promise.all(proxies.map((p) => p.restore()));
}

/**
 * Every fault, in the order they strike, for a load window of `windowMs`. The database outage cuts all three services from PostgreSQL at once through their proxies
 * (what a restart of the database looks like from the services) instead of restarting the
 * shared cluster other tests are using.
 */
export function faultsOf(system: FaultSystem, windowMs: number): Fault[] {
  let downMs = 0;
  const restart = (service: FaultSystem["rooms"]): Fault => ({
    name: `${service.name} SIGKILLed and restarted`,
    async run() {
      await service.kill();
      await pause(downMs);
      await service.start();
    },
  });
  const faults: Fault[] = [
    restart(system.rooms),
    restart(system.messages),
    { name: "messages cut from PostgreSQL (proxy)", run: () => cutFor([system.pg.messages], downMs) },
    restart(system.delivery),
    { name: "database outage: every service cut from PostgreSQL (proxies)", run: () => cutFor([system.pg.rooms, system.pg.messages, system.pg.delivery], downMs) },
    { name: "edge-2 cut from NATS (proxy)", run: () => cutFor([system.edge2Nats], downMs) },
    {
      name: "NATS SIGKILLed and restarted",
      async run() {
        await system.nats.stop();
        await pause(downMs);
        await system.nats.start();
      },
    },
    // Last: edge-1 stays down; its clients reconnect through the balancer to edge-2.
    { name: "edge-1 SIGKILLed (its clients reconnect to edge-2)", run: () => system.edge1.kill() },
  ];
  // How long a killed process or a cut link stays away: a third of the gap between two faults
  // (0.5 to 3 s), so each is over, restart included, before the next one starts.
  downMs = Math.min(3000, Math.max(500, (windowMs * 0.7) / (faults.length - 1) / 3));
  return faults;
}

/** When each fault starts, as epoch ms: evenly spaced from 10% to 80% of the window. */
export function faultTimes(count: number, windowStart: number, windowMs: number): number[] {
  if (count === 1) return [windowStart + windowMs * 0.1];
  return Array.from({ length: count }, (_, i) => windowStart + windowMs * (0.1 + (0.7 * i) / (count - 1)));
}

/** Runs the faults one after another, each at its time (or at once, when the one before overran). */
export async function runFaultSchedule(faults: Fault[], windowStart: number, windowMs: number, log: (line: string) => void): Promise<FaultRecord[]> {
  const times = faultTimes(faults.length, windowStart, windowMs);
  const records: FaultRecord[] = [];
  for (const [i, fault] of faults.entries()) {
    await pause(Math.max(0, times[i]! - Date.now()));
    const startedAt = Date.now();
    log(`fault at +${((startedAt - windowStart) / 1000).toFixed(1)} s: ${fault.name}`);
    await fault.run();
    records.push({ name: fault.name, startedAt, endedAt: Date.now() });
  }
  return records;
}
