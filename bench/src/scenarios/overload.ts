import { connectAll, drain, Ledger, send, sleep, type BenchOptions } from "../clients.js";
import type { ScenarioResult } from "../report.js";
import { findServerProcesses, latencyHistogram, sampleProcess, summarise, type LatencySummary } from "../stats.js";

/** Seconds in a row of normal latency that count as recovered. */
const RECOVERED_FOR = 5;

/** One second of an overload run. */
export interface OverloadSecond {
  /** Seconds since the load started. */
  t: number;
  phase: "overload" | "after";
  offered: number;
  accepted: number;
  refused: number;
  /** p99 of the answers to sends of this second that were accepted (ms). */
  ackP99Ms: number | null;
  /** Resident memory of every server process, MB. */
  rssMB: Record<string, number>;
}

export interface OverloadSummary {
  /** The offered rates: 3x the given maximum, then half of it. */
  rates: { overload: number; after: number };
  seconds: { overload: number; after: number };
  /** ACK latency of the accepted sends, during the overload. */
  acceptedDuringOverload: LatencySummary;
  /** How fast a refusal came, during the overload. */
  refusalLatency: LatencySummary;
  /** The settled ACK p99 of the last half of the after phase, ms. */
  normalP99Ms: number | null;
  /**
   * From the drop to 50% until the ACK p99 is within 2x normal for RECOVERED_FOR seconds in a
   * row (a later one-second blip on this shared machine is noise, not a relapse); null if never.
   */
  recoverySeconds: number | null;
  /** The largest RSS each process reached, MB. */
  peakRssMB: Record<string, number>;
  timeline: OverloadSecond[];
}

/**
 * Overload: open loop at 3x `max` (the measured maximum, msgs/s) for `overloadSeconds`, then
 * at half of `max` for `afterSeconds`, over many users (a socket handles one event at a time,
 * so load on the edge's shared queues needs many sockets). Records each second: what was
 * offered, accepted and refused, the ACK p99 of what was accepted, and every server's RSS;
 * then the ledger drains (nothing ACKed may be lost).
 */
export async function overload(options: BenchOptions & { users: number; max: number; overloadSeconds: number; afterSeconds: number }): Promise<ScenarioResult> {
  const ledger = new Ledger();
  const ids = Array.from({ length: options.users - (options.users % 2) }, (_, i) => options.userIdBase + i);
  const { clients, setup, errors } = await connectAll(options.urls, ids, ledger, 100);
  const partner = (id: number) => ((id - options.userIdBase) % 2 === 0 ? id + 1 : id - 1);
  // Rooms first, so the overload measures sending, not room creation.
  await Promise.all(clients.map((from) => send(ledger, from, partner(from.userId), "directo", 1, -1)));
  await drain(ledger, options.drainSeconds * 1000);
  ledger.reset();

  const servers = findServerProcesses().filter((p) => p.name !== "postgres" && p.name !== "nats");
  const rates = { overload: Math.round(options.max * 3), after: Math.round(options.max / 2) };
  const timeline: OverloadSecond[] = [];
  const peakRssMB: Record<string, number> = {};
  const duringOverload = latencyHistogram();
  const refusedDuringOverload = latencyHistogram();
  let window = { offered: 0, accepted: 0, refused: 0, latency: latencyHistogram() };
  let phase: OverloadSecond["phase"] = "overload";
  // Answers are counted in the second they arrive, in the phase under way then.
  ledger.onAnswer = (accepted, latencyUs) => {
    if (accepted) {
      window.accepted++;
      window.latency.recordValue(latencyUs);
      if (phase === "overload") duringOverload.recordValue(latencyUs);
    } else {
      window.refused++;
      if (phase === "overload") refusedDuringOverload.recordValue(latencyUs);
    }
  };

  const started = Date.now();
  options.window.start();
  const sampler = setInterval(() => {
    const rssMB: Record<string, number> = {};
    for (const p of servers) {
      const mb = Math.round((sampleProcess(p.pid, p.name)?.rssBytes ?? 0) / 2 ** 20);
      rssMB[p.name] = mb;
      peakRssMB[p.name] = Math.max(peakRssMB[p.name] ?? 0, mb);
    }
    const s = summarise(window.latency);
    timeline.push({ t: Math.round((Date.now() - started) / 1000), phase, offered: window.offered, accepted: window.accepted, refused: window.refused, ackP99Ms: s.count > 0 ? s.p99 : null, rssMB });
    window = { offered: 0, accepted: 0, refused: 0, latency: latencyHistogram() };
  }, 1000);

  let seq = 0;
  const inflight: Promise<void>[] = [];
  const run = async (rate: number, seconds: number) => {
    const until = Date.now() + seconds * 1000;
    const interval = 1000 / rate;
    let next = Date.now();
    for (let i = 0; Date.now() < until && ledger.sent < options.maxMessages; i++) {
      const from = clients[seq % clients.length]!;
      window.offered++;
      inflight.push(send(ledger, from, partner(from.userId), "directo", 1, seq++));
      next += interval;
      const wait = next - Date.now();
      if (wait > 1) await sleep(wait);
      else if (i % 64 === 0) await sleep(0); // let answers in even when behind schedule
    }
  };
  await run(rates.overload, options.overloadSeconds);
  phase = "after";
  await run(rates.after, options.afterSeconds);
  clearInterval(sampler);
  options.window.stop();
  await Promise.all(inflight);
  const sendSeconds = (Date.now() - started) / 1000;
  await drain(ledger, options.drainSeconds * 1000);
  for (const c of clients) c.socket.disconnect();

  const after = timeline.filter((s) => s.phase === "after");
  const settled = after.slice(Math.floor(after.length / 2)).map((s) => s.ackP99Ms).filter((v): v is number => v !== null).sort((a, b) => a - b);
  const normalP99Ms = settled.length > 0 ? settled[Math.floor(settled.length / 2)]! : null;
  let recoverySeconds: number | null = null;
  if (normalP99Ms !== null) {
    const normal = (s: OverloadSecond) => s.ackP99Ms === null || s.ackP99Ms <= 2 * normalP99Ms;
    for (let i = 0; i < after.length; i++) {
      // Near the end, the seconds that are left (fewer than RECOVERED_FOR) must all be normal.
      if (after.slice(i, i + RECOVERED_FOR).every(normal)) {
        recoverySeconds = i;
        break;
      }
    }
  }
  return {
    ledger,
    sendSeconds,
    setup,
    connectErrors: errors,
    connections: clients.length,
    overload: {
      rates,
      seconds: { overload: options.overloadSeconds, after: options.afterSeconds },
      acceptedDuringOverload: summarise(duringOverload),
      refusalLatency: summarise(refusedDuringOverload),
      normalP99Ms,
      recoverySeconds,
      peakRssMB,
      timeline,
    },
  };
}
