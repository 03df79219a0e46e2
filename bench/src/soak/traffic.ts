import { connect, connectAll, drain, Ledger, send, sleep, type BenchClient } from "../clients.js";
import { latencyHistogram, nowUs } from "../stats.js";

export interface TrafficOptions {
  url: string;
  /** The first user id (fresh ids per run). */
  userIdBase: number;
  /** Messages offered per second, direct and group together (open loop). */
  rate: number;
  /** Of those, the share sent to groups (the rest are direct). */
  groupShare: number;
  pairs: number;
  groups: number;
  members: number;
  /** get_history calls per second, each for a random direct conversation. */
  historyPerSecond: number;
  /** Users who drop their socket, stay away a second and connect again (catching up), per minute. */
  reconnectsPerMinute: number;
  seconds: number;
  maxMessages: number;
  drainSeconds: number;
  /** Told when the load starts (after connecting and joining) and when it ends (before the drain). */
  onLoad?: (phase: "start" | "end") => void;
}

export interface TrafficResult {
  ledger: Ledger;
  sendSeconds: number;
  /** Sends not made because too many were already waiting for their ACK (the system fell behind). */
  heldBack: number;
  history: { reads: number; errors: number; latency: ReturnType<typeof latencyHistogram> };
  reconnects: { done: number; errors: number };
}

/** At most this many sends wait for an ACK at once; beyond it the generator holds back (and says so). */
const MAX_IN_FLIGHT = 5000;
const MAX_HISTORY_IN_FLIGHT = 50;
/** How much of its own bookkeeping the generator keeps, so a 30-minute run does not measure its own growth. */
const KEEP_SENT_MS = 120_000;
const KEEP_SEEN = 2000;

/**
 * Mixed traffic for the soak, open loop: direct and group messages at `rate`, history reads,
 * and users reconnecting (their missed messages arrive by catch-up). Every client marks what
 * it receives as delivered, as a real client does — otherwise every reconnect would replay an
 * ever longer backlog and the soak would measure that instead of the servers.
 */
export async function mixedTraffic(o: TrafficOptions): Promise<TrafficResult> {
  const ledger = new Ledger();
  const directCount = o.pairs * 2;
  const ids = Array.from({ length: directCount + o.groups * o.members }, (_, i) => o.userIdBase + i);
  const { clients: connected, errors } = await connectAll([o.url], ids, ledger);
  if (errors > 0) throw new Error(`${errors} of ${ids.length} users could not connect`);
  // By index in `ids` (connectAll returns them in completion order).
  const clients: BenchClient[] = [];
  for (const c of connected) clients[c.userId - o.userIdBase] = c;
  const markDelivered = (c: BenchClient) => c.socket.on("receive_message", (m: { mensaje_id: string | null }) => m.mensaje_id && c.socket.emit("mark_delivered", { mensaje_id: m.mensaje_id }));
  clients.forEach(markDelivered);
  const groupOf = (index: number) => o.userIdBase + Math.floor((index - directCount) / o.members);
  const partnerOf = (index: number) => o.userIdBase + (index % 2 === 0 ? index + 1 : index - 1);
  await Promise.all(clients.slice(directCount).map((c, i) => c.socket.timeout(30_000).emitWithAck("join_group", { group_id: groupOf(directCount + i) })));

  const offline = new Set<number>();
  const pick = (from: number, count: number): number | undefined => {
    for (let tries = 0; tries < 5; tries++) {
      const index = from + Math.floor(Math.random() * count);
      if (!offline.has(index)) return index;
    }
    return undefined;
  };

  let inFlight = 0;
  let heldBack = 0;
  let seq = 0;
  const sendOne = () => {
    const toGroup = o.groups > 0 && (o.pairs === 0 || Math.random() < o.groupShare);
    const index = toGroup ? pick(directCount, o.groups * o.members) : pick(0, directCount);
    if (index === undefined) return;
    if (inFlight >= MAX_IN_FLIGHT) {
      heldBack++;
      return;
    }
    inFlight++;
    const sent = toGroup ? send(ledger, clients[index]!, groupOf(index), "grupal", o.members - 1, seq++) : send(ledger, clients[index]!, partnerOf(index), "directo", 1, seq++);
    void sent.finally(() => inFlight--);
  };

  const history = { reads: 0, errors: 0, latency: latencyHistogram() };
  let historyInFlight = 0;
  const readHistory = async () => {
    const index = pick(0, directCount);
    if (index === undefined || historyInFlight >= MAX_HISTORY_IN_FLIGHT || directCount === 0) return;
    historyInFlight++;
    const started = nowUs();
    try {
      const reply = await clients[index]!.socket.timeout(10_000).emitWithAck("get_history", { type: "directo", to: partnerOf(index), limit: 20 });
      if ((reply as { status?: string }).status === "ok") {
        history.reads++;
        history.latency.recordValue(Math.max(1, nowUs() - started));
      } else history.errors++;
    } catch {
      history.errors++;
    } finally {
      historyInFlight--;
    }
  };

  const reconnects = { done: 0, errors: 0 };
  const reconnecting = new Set<Promise<void>>();
  const reconnectOne = () => {
    const index = pick(0, clients.length);
    if (index === undefined) return;
    offline.add(index);
    const old = clients[index]!;
    old.socket.disconnect();
    const job = (async () => {
      await sleep(1000);
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const fresh = await connect(o.url, old.userId, ledger, {}, old);
          markDelivered(fresh);
          clients[index] = fresh;
          offline.delete(index);
          reconnects.done++;
          return;
        } catch {
          await sleep(1000);
        }
      }
      reconnects.errors++;
    })();
    reconnecting.add(job);
    void job.finally(() => reconnecting.delete(job));
  };

  const trim = () => {
    const oldest = nowUs() - KEEP_SENT_MS * 1000;
    for (const [id, at] of ledger.sentAt) {
      if (at >= oldest) break; // insertion order is send order
      ledger.sentAt.delete(id);
    }
    for (const c of clients) {
      if (c.seen.size <= KEEP_SEEN) continue;
      let extra = c.seen.size - KEEP_SEEN;
      for (const key of c.seen) {
        if (extra-- <= 0) break;
        c.seen.delete(key);
      }
    }
  };

  const timers = [
    ...(o.historyPerSecond > 0 ? [setInterval(() => void readHistory(), 1000 / o.historyPerSecond)] : []),
    ...(o.reconnectsPerMinute > 0 ? [setInterval(reconnectOne, 60_000 / o.reconnectsPerMinute)] : []),
    setInterval(trim, 10_000),
  ];
  o.onLoad?.("start");
  const started = Date.now();
  const deadline = started + o.seconds * 1000;
  const interval = 1000 / Math.max(o.rate, 0.001);
  let next = started;
  while (Date.now() < deadline && ledger.sent < o.maxMessages) {
    sendOne();
    next += interval;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  const sendSeconds = (Date.now() - started) / 1000;
  for (const t of timers) clearInterval(t);
  o.onLoad?.("end");
  await Promise.all(reconnecting);
  while (inFlight > 0 || historyInFlight > 0) await sleep(50);
  await drain(ledger, o.drainSeconds * 1000);
  for (const c of clients) c.socket.disconnect();
  return { ledger, sendSeconds, heldBack, history, reconnects };
}
