import { connectAll, sleep, type BenchOptions } from "../clients.js";
import type { ScenarioResult } from "../report.js";
import { findServerProcesses, sampleProcess } from "../stats.js";
import { Ledger } from "../clients.js";
import { collectGarbage } from "../inspector-gc.js";

/** Where start-system.sh opens the edge's inspector (loopback only), to force a GC before sampling. */
const EDGE_INSPECTOR = process.env["BENCH_EDGE_INSPECT"] ?? "127.0.0.1:9229";

/**
 * Opens `count` idle connections, holds them, and measures setup time and the edge's RSS per
 * connection. Both RSS samples follow a full GC of the edge when its inspector answers (the
 * connect storm's garbage would otherwise count as memory per connection), and the hold lets
 * the connect-time catch-ups finish first.
 */
export async function connections(options: BenchOptions & { count: number }): Promise<ScenarioResult> {
  const edges = findServerProcesses().filter((p) => p.name.startsWith("edge") || p.name === "standalone");
  const rssOf = () => edges.reduce((n, p) => n + (sampleProcess(p.pid, p.name)?.rssBytes ?? 0), 0);
  const settle = async () => {
    const collected = await collectGarbage(EDGE_INSPECTOR);
    await sleep(1000);
    return collected;
  };
  const gcBefore = await settle();
  const before = rssOf();
  const ids = Array.from({ length: options.count }, (_, i) => options.userIdBase + i);
  const started = Date.now();
  const { clients, setup, errors } = await connectAll(options.urls, ids, undefined, 100);
  const sendSeconds = (Date.now() - started) / 1000;
  await sleep(Math.min(60_000, options.seconds * 1000));
  const gcAfter = await settle();
  const after = rssOf();
  for (const c of clients) c.socket.disconnect();
  return {
    ledger: new Ledger(),
    sendSeconds,
    setup,
    connectErrors: errors,
    connections: clients.length,
    rssPerConnectionBytes: edges.length > 0 && clients.length > 0 ? Math.round((after - before) / clients.length) : undefined,
    gcForced: gcBefore && gcAfter,
  };
}
