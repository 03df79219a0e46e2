import { connect, drain, Ledger, send, sleep, type BenchClient, type BenchOptions } from "../clients.js";
import type { ScenarioResult } from "../report.js";
import { latencyHistogram, nowUs } from "../stats.js";

/**
 * A reconnect storm: `count` users are offline while `pending` messages each are stored for
 * them; then all reconnect within `spreadSeconds`. Every pending message must arrive by
 * catch-up; connection errors are counted. With count=1 this is the catch-up scenario.
 */
export async function reconnect(options: BenchOptions & { count: number; pending: number; spreadSeconds: number }): Promise<ScenarioResult> {
  const ledger = new Ledger();
  const offline = Array.from({ length: options.count }, (_, i) => options.userIdBase + i);
  const sender = await connect(options.urls[0]!, options.userIdBase + options.count + 1, undefined);
  // Store the pending messages while their recipients are away (bounded concurrency).
  let seq = 0;
  const jobs = offline.flatMap((to) => Array.from({ length: options.pending }, () => to));
  const workers = Array.from({ length: 32 }, async () => {
    while (jobs.length > 0 && ledger.sent < options.maxMessages) await send(ledger, sender, jobs.pop()!, "directo", 1, seq++);
  });
  await Promise.all(workers);
  sender.socket.disconnect();
  // The storm: every user connects within the window; catch-up time is measured to the last message.
  const started = Date.now();
  options.window.start();
  const catchUp = latencyHistogram();
  const clients: BenchClient[] = [];
  let errors = 0;
  const spread = (options.spreadSeconds * 1000) / Math.max(1, offline.length);
  await Promise.all(
    offline.map(async (id, i) => {
      await sleep(i * spread);
      const t0 = nowUs();
      try {
        const c = await connect(options.urls[i % options.urls.length]!, id, ledger);
        clients.push(c);
        // Woken by each receive (thousands of sockets polling a timer would load the client).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 60_000);
          c.onReceive = () => {
            if (c.seen.size < options.pending) return;
            clearTimeout(timer);
            resolve();
          };
          c.onReceive();
        });
        catchUp.recordValue(Math.max(1, nowUs() - t0));
        for (const m of c.seen) c.socket.emit("mark_delivered", { mensaje_id: m });
      } catch {
        errors++;
      }
    }),
  );
  options.window.stop();
  const sendSeconds = (Date.now() - started) / 1000;
  await drain(ledger, options.drainSeconds * 1000);
  for (const c of clients) c.socket.disconnect();
  return { ledger, sendSeconds, setup: catchUp, connectErrors: errors, connections: clients.length, catchUpLabel: true };
}
