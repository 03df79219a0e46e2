import { connectAll, drain, Ledger, send, sleep, type BenchOptions } from "../clients.js";
import type { ScenarioResult } from "../report.js";

/**
 * G groups of M members. Open loop (rate > 0): messages at a fixed total rate from random
 * members. Closed loop (rate 0): `senders` members of each group each send their next message
 * as soon as the previous one is ACKed.
 */
export async function group(options: BenchOptions & { groups: number; members: number; rate: number; senders: number }): Promise<ScenarioResult> {
  const ledger = new Ledger();
  const ids = Array.from({ length: options.groups * options.members }, (_, i) => options.userIdBase + i);
  const { clients, setup, errors } = await connectAll(options.urls, ids, ledger);
  const groupOf = (index: number) => options.userIdBase + Math.floor(index / options.members);
  await Promise.all(clients.map((c) => c.socket.timeout(30_000).emitWithAck("join_group", { group_id: groupOf(c.userId - options.userIdBase) })));
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const recipients = options.members - 1;
  options.window.start();
  if (options.rate > 0) {
    const interval = 1000 / options.rate;
    const inflight: Promise<void>[] = [];
    let next = started;
    for (let seq = 0; Date.now() < deadline && ledger.sent < options.maxMessages; seq++) {
      const from = clients[Math.floor(Math.random() * clients.length)]!;
      inflight.push(send(ledger, from, groupOf(from.userId - options.userIdBase), "grupal", recipients, seq));
      next += interval;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
    }
    options.window.stop();
    await Promise.all(inflight);
  } else {
    let seq = 0;
    const senders = clients.filter((c) => (c.userId - options.userIdBase) % options.members < Math.max(1, options.senders));
    await Promise.all(
      senders.map(async (from) => {
        while (Date.now() < deadline && ledger.sent < options.maxMessages) await send(ledger, from, groupOf(from.userId - options.userIdBase), "grupal", recipients, seq++);
      }),
    );
    options.window.stop();
  }
  const sendSeconds = (Date.now() - started) / 1000;
  await drain(ledger, options.drainSeconds * 1000);
  for (const c of clients) c.socket.disconnect();
  return { ledger, sendSeconds, setup, connectErrors: errors, connections: clients.length };
}
