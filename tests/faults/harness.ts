/**
 * The fault harness: a bounded load of sends, edits and deletes between online users while
 * every part of the system fails in turn, then the full ledger of what happened.
 *
 * Faults (faults.ts), evenly spaced between 10% and 80% of the load window: rooms, messages
 * and delivery each SIGKILLed and restarted; messages cut from PostgreSQL; a database outage
 * (all three services cut from PostgreSQL at once); edge-2 cut from NATS; the harness's own
 * nats-server killed and restarted; edge-1 SIGKILLed (its clients reconnect to edge-2 through
 * the balancer). Every cut goes through a TCP proxy on that one link (system.ts): the shared
 * PostgreSQL and NATS other tests use are never stopped or restarted — the database outage is
 * the proxies of all services cut together, which is what a database restart looks like from
 * the services.
 *
 * Afterwards every client reconnects (catch-up replays what it missed, `sync` the edits and
 * deletes), and the ledger (ledger.ts) sets what each recipient and the database hold against
 * every acknowledgement: nothing ACKed saved may be missing from `mensajes` or from a
 * recipient, no logical message may arrive twice under two ids, and every acknowledged edit
 * and delete must be in the database and have reached every recipient.
 */
import { waitFor } from "@redup/kit/testing";
import { checkDatabase } from "./database.js";
import { faultsOf, runFaultSchedule } from "./faults.js";
import { countDeliveries, unsavedOutside, type Ledger } from "./ledger.js";
import { runLoad, type Sender } from "./load.js";
import { startFaultSystem } from "./system.js";
import { connectUser, type User } from "./user.js";

export { formatLedger } from "./ledger.js";

export interface FaultOptions {
  /** How long the load runs; faults are spread over it. */
  seconds: number;
  /** Messages per second per sending user. */
  ratePerUser: number;
  log?: (line: string) => void;
}

const PAIRS: [number, number][] = [
  [5001, 5002],
  [5003, 5004],
  [5005, 5006],
];
/** A sender whose client sends no client_msg_id (as the guide's do): the fallback's path. */
const UNKEYED: [number, number] = [5007, 5008];
const GROUP = 9000;
const GROUP_MEMBERS = [5101, 5102, 5103, 5104];

export async function runFaults(options: FaultOptions): Promise<Ledger> {
  const log = options.log ?? (() => {});
  const system = await startFaultSystem();
  log(`process logs: ${system.logs}`);
  const users = new Map<number, User>();
  try {
    for (const id of [...PAIRS.flat(), ...UNKEYED, ...GROUP_MEMBERS]) users.set(id, await connectUser(system.url, id));
    for (const id of GROUP_MEMBERS) await users.get(id)!.socket.timeout(5000).emitWithAck("join_group", { group_id: GROUP });

    const senders: Sender[] = [
      ...PAIRS.flatMap(([a, b]): Sender[] => [
        { keyed: true, from: a, to: b, type: "directo", recipients: [b] },
        { keyed: true, from: b, to: a, type: "directo", recipients: [a] },
      ]),
      { keyed: true, from: GROUP_MEMBERS[0]!, to: GROUP, type: "grupal", recipients: GROUP_MEMBERS.slice(1) },
      { keyed: false, from: UNKEYED[0], to: UNKEYED[1], type: "directo", recipients: [UNKEYED[1]] },
    ];
    const usageBefore = system.edge2.usage();
    // The load lasts `seconds`, and longer when the faults overran it (a restart on a busy
    // machine can take seconds): it ends only after a tail of traffic past the last fault.
    const windowMs = options.seconds * 1000;
    const tailMs = Math.max(3000, windowMs * 0.1);
    const loadStart = Date.now();
    let faultsEnded: number | undefined = undefined;
    const done = () => Date.now() >= loadStart + windowMs && faultsEnded !== undefined && Date.now() >= faultsEnded + tailMs;
    const loading = runLoad(users, senders, options.ratePerUser, done, options.seconds * options.ratePerUser * 4);
    const records = await runFaultSchedule(faultsOf(system, windowMs), loadStart, windowMs, log);
    faultsEnded = Date.now();
    const load = await loading;
    log(`load done: ${load.sends.attempted} sends; reconnecting every client`);

    // Quiescence: every client reconnects once more, so what it missed live arrives by
    // catch-up and through sync; then wait until the ledger is satisfied or time runs out,
    // syncing again now and then (a change committed just before a sync may come with the next).
    for (const user of users.values()) {
      user.socket.disconnect();
      users.set(user.id, await connectUser(system.url, user.id, user));
    }
    await waitFor(
      async () => {
        if (countDeliveries(load, users).lostPairs.length === 0) return true;
        await Promise.all([...users.values()].map((u) => u.sync()));
        await new Promise((r) => setTimeout(r, 500));
        return false;
      },
      30_000,
      "every acknowledged message, edit and delete to reach its recipients",
    ).catch(() => {});

    const deliveries = countDeliveries(load, users);
    const database = await checkDatabase(system.db.url, load, deliveries.lostPairs);
    return {
      ...deliveries,
      unsaved: load.unsaved,
      unsavedOutsideFaults: unsavedOutside(load.unsaved, records),
      ...database,
      sends: load.sends,
      unkeyed: load.unkeyed,
      edits: load.edits,
      deletes: load.deletes,
      window: { firstSendAt: load.firstSendAt, lastSendAt: load.lastSendAt },
      faults: records,
      survivingEdge: { before: usageBefore, after: system.edge2.usage() },
    };
  } finally {
    for (const user of users.values()) user.socket.disconnect();
    await system.close();
  }
}
