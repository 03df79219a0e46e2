import { connectAll, drain, Ledger, send, sleep, type BenchOptions } from "../clients.js";
import type { ScenarioResult } from "../report.js";

/**
 * Users in pairs, each sending to its partner. Closed loop (no rate): every user keeps
 * `inFlight` sends outstanding, sending the next as soon as one is ACKed. Open loop
 * (rate > 0): messages leave at a fixed total rate, round-robin over senders, without
 * waiting for ACKs.
 */
export async function direct(options: BenchOptions & { users: number; rate: number; inFlight: number }): Promise<ScenarioResult> {
  const ledger = new Ledger();
  const ids = Array.from({ length: options.users - (options.users % 2) }, (_, i) => options.userIdBase + i);
  const { clients, setup, errors } = await connectAll(options.urls, ids, ledger);
  const partner = (id: number) => ((id - options.userIdBase) % 2 === 0 ? id + 1 : id - 1);

  // First contact: a pair's first message creates its room. All pairs do it at once here,
  // timed on its own, so the figures below are the steady state and the cold cost is visible.
  const contact = Date.now();
  await Promise.all(clients.map((from) => send(ledger, from, partner(from.userId), "directo", 1, -1)));
  await drain(ledger, options.drainSeconds * 1000);
  const firstContactMs = Date.now() - contact;
  ledger.reset();

  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  let seq = 0;
  options.window.start();
  if (options.rate > 0) {
    const interval = 1000 / options.rate;
    const inflight: Promise<void>[] = [];
    let next = started;
    for (let i = 0; Date.now() < deadline && ledger.sent < options.maxMessages; i++) {
      const from = clients[i % clients.length]!;
      inflight.push(send(ledger, from, partner(from.userId), "directo", 1, seq++));
      next += interval;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
    }
    options.window.stop();
    await Promise.all(inflight);
  } else {
    const lane = async (from: (typeof clients)[number]) => {
      while (Date.now() < deadline && ledger.sent < options.maxMessages) await send(ledger, from, partner(from.userId), "directo", 1, seq++);
    };
    await Promise.all(clients.flatMap((from) => Array.from({ length: Math.max(1, options.inFlight) }, () => lane(from))));
    options.window.stop();
  }
  const sendSeconds = (Date.now() - started) / 1000;
  await drain(ledger, options.drainSeconds * 1000);
  for (const c of clients) c.socket.disconnect();
  return { ledger, sendSeconds, setup, connectErrors: errors, connections: clients.length, firstContactMs };
}
