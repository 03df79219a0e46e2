import { connectAll, sleep, type BenchOptions } from "../clients.js";
import type { ScenarioResult } from "../report.js";
import { findServerProcesses, sampleProcess } from "../stats.js";
import { Ledger } from "../clients.js";

/** Opens `count` idle connections and measures setup time and the edge's RSS per connection. */
export async function connections(options: BenchOptions & { count: number }): Promise<ScenarioResult> {
  const edges = findServerProcesses().filter((p) => p.name === "edge" || p.name === "standalone");
  const rssOf = () => edges.reduce((n, p) => n + (sampleProcess(p.pid, p.name)?.rssBytes ?? 0), 0);
  global.gc?.();
  const before = rssOf();
  const ids = Array.from({ length: options.count }, (_, i) => options.userIdBase + i);
  const started = Date.now();
  const { clients, setup, errors } = await connectAll(options.url, ids, undefined, 100);
  const sendSeconds = (Date.now() - started) / 1000;
  await sleep(Math.min(5000, options.seconds * 1000));
  const after = rssOf();
  for (const c of clients) c.socket.disconnect();
  return {
    ledger: new Ledger(),
    sendSeconds,
    setup,
    connectErrors: errors,
    connections: clients.length,
    rssPerConnectionBytes: edges.length > 0 && clients.length > 0 ? Math.round((after - before) / clients.length) : undefined,
  };
}
