import { LIMITS, type GrowthLine } from "./growth.js";
import type { SoakReport } from "./soak.js";

const fmt = (line: GrowthLine, value: number | undefined) => {
  if (value === undefined) return "-";
  const scaled = value / LIMITS[line.measure].scale;
  return `${scaled.toFixed(line.measure === "fds" ? 0 : 1)}`;
};
const slope = (line: GrowthLine) => (line.slope === undefined ? "-" : `${line.slope >= 0 ? "+" : ""}${(line.slope / LIMITS[line.measure].scale).toFixed(2)}`);

/** The soak's table, traffic figures and its verdict line ("SOAK PASS" / "SOAK FAIL"). */
export function formatSoak(r: SoakReport): string {
  const out: string[] = [];
  out.push(`soak: ${r.minutes} min at ${r.rate} msgs/s offered; slopes by least squares after a ${r.warmupSeconds} s warm-up`);
  out.push("");
  out.push(`${"server".padEnd(10)}${"measure".padEnd(9)}${"first".padStart(10)}${"last".padStart(10)}${"slope/min".padStart(12)}${"limit/min".padStart(11)}  points  verdict`);
  for (const g of r.growth) {
    const limit = LIMITS[g.measure];
    out.push(
      `${g.server.padEnd(10)}${`${g.measure} ${limit.unit}`.padEnd(9)}${fmt(g, g.first).padStart(10)}${fmt(g, g.last).padStart(10)}${slope(g).padStart(12)}${String(limit.perMinute / limit.scale).padStart(11)}  ${String(g.points).padStart(6)}  ${g.ok ? "ok" : g.enough ? "GROWS" : "NO DATA"}`,
    );
  }
  out.push("");
  const refusals = Object.entries(r.refusals).map(([k, v]) => `${k} ${v}`).join(", ");
  out.push(`traffic: sent ${r.sent}, acked ${r.acked} (+${r.ackedUnsaved} unsaved fallback), errors ${r.errors}${refusals ? ` (${refusals})` : ""}, held back ${r.heldBack}`);
  out.push(`         received ${r.received}, lost ${r.lost}, duplicates ${r.duplicates} (replays after reconnects, deduped)`);
  out.push(`         ACK p50 ${r.ack.p50} / p99 ${r.ack.p99} ms; receive p50 ${r.receive.p50} / p99 ${r.receive.p99} ms (catch-ups after a reconnect included)`);
  out.push(`         server CPU ${r.cpu.map((c) => `${c.server} ${c.percent === undefined ? "-" : Math.round(c.percent)}%`).join(", ")} (of one core); machine load average ${r.loadAverage.map((l) => l.toFixed(1)).join(" / ")}`);
  out.push(`         history reads ${r.history.reads} (errors ${r.history.errors}), p99 ${r.history.latency.p99} ms; reconnects ${r.reconnects.done} (errors ${r.reconnects.errors})`);
  const failed = r.growth.filter((g) => !g.ok).map((g) => (g.enough ? `${g.server} ${g.measure} grows ${slope(g)} ${LIMITS[g.measure].unit}/min` : `${g.server} ${g.measure}: too few readings (${g.points})`));
  out.push(r.pass ? "SOAK PASS: no growth in RSS, open fds or event-loop lag of any server" : `SOAK FAIL: ${failed.join("; ")}`);
  return out.join("\n");
}
