import type { Histogram } from "hdr-histogram-js";
import type { Ledger } from "./clients.js";
import { summarise, type LatencySummary, type ProcessSample } from "./stats.js";

export interface ScenarioResult {
  ledger: Ledger;
  /** Seconds the load ran (or the storm took). */
  sendSeconds: number;
  /** Connection setup times (or, for reconnect, connect-to-last-pending-message times). */
  setup: Histogram;
  connectErrors: number;
  connections: number;
  rssPerConnectionBytes?: number | undefined;
  catchUpLabel?: boolean;
  /** Whether the edge was garbage-collected before each RSS sample (through its inspector). */
  gcForced?: boolean;
  /** How long every pair's first message (room creation) took, all at once, before the load. */
  firstContactMs?: number;
}

export interface Report {
  scenario: string;
  params: Record<string, unknown>;
  sent: number;
  ackedSaved: number;
  ackedUnsaved: number;
  ackErrors: number;
  received: number;
  lost: number;
  duplicates: number;
  receivedPerSecond: number;
  ackLatencyMs: LatencySummary;
  receiveLatencyMs: LatencySummary;
  connections: number;
  connectErrors: number;
  connectionSetupMs?: LatencySummary;
  catchUpMs?: LatencySummary;
  rssPerConnectionKB?: number;
  gcForced?: boolean;
  firstContactMs?: number;
  processes: { name: string; pid: number; cpuPercent: number; rssMB: number }[];
}

export function buildReport(
  scenario: string,
  params: Record<string, unknown>,
  result: ScenarioResult,
  before: ProcessSample[],
  after: ProcessSample[],
  wallSeconds: number,
): Report {
  const l = result.ledger;
  const processes = after.map((a) => {
    const b = before.find((x) => x.pid === a.pid);
    return {
      name: a.name,
      pid: a.pid,
      cpuPercent: b ? Math.round(((a.cpuSeconds - b.cpuSeconds) / wallSeconds) * 1000) / 10 : 0,
      rssMB: Math.round(a.rssBytes / 2 ** 20),
    };
  });
  return {
    scenario,
    params,
    sent: l.sent,
    ackedSaved: l.ackedSaved,
    ackedUnsaved: l.ackedUnsaved,
    ackErrors: l.ackErrors,
    received: l.received,
    lost: l.lost,
    duplicates: l.duplicates,
    receivedPerSecond: result.sendSeconds > 0 ? Math.round(l.received / result.sendSeconds) : 0,
    ackLatencyMs: summarise(l.ackLatency),
    receiveLatencyMs: summarise(l.receiveLatency),
    connections: result.connections,
    connectErrors: result.connectErrors,
    ...(result.catchUpLabel ? { catchUpMs: summarise(result.setup) } : { connectionSetupMs: summarise(result.setup) }),
    ...(result.firstContactMs !== undefined ? { firstContactMs: result.firstContactMs } : {}),
    ...(result.rssPerConnectionBytes !== undefined ? { rssPerConnectionKB: Math.round(result.rssPerConnectionBytes / 102.4) / 10 } : {}),
    ...(result.gcForced !== undefined ? { gcForced: result.gcForced } : {}),
    processes,
  };
}

const lat = (s: LatencySummary | undefined) => (s && s.count > 0 ? `p50 ${s.p50} / p95 ${s.p95} / p99 ${s.p99} / max ${s.max} ms` : "—");

/** The human table. */
export function formatReport(r: Report): string {
  const rows: [string, string | number][] = [
    ["scenario", `${r.scenario} ${JSON.stringify(r.params)}`],
    ["sent / ACKed saved / ACKed unsaved / ACK errors", `${r.sent} / ${r.ackedSaved} / ${r.ackedUnsaved} / ${r.ackErrors}`],
    ["received / lost / duplicates", `${r.received} / ${r.lost} / ${r.duplicates}`],
    ["received per second", r.receivedPerSecond],
    ["send → ACK", lat(r.ackLatencyMs)],
    ["send → receive", lat(r.receiveLatencyMs)],
    ["connections (errors)", `${r.connections} (${r.connectErrors})`],
  ];
  if (r.connectionSetupMs) rows.push(["connection setup", lat(r.connectionSetupMs)]);
  if (r.firstContactMs !== undefined) rows.push(["first contact (all pairs at once)", `${r.firstContactMs} ms`]);
  if (r.catchUpMs) rows.push(["connect → all pending received", lat(r.catchUpMs)]);
  if (r.rssPerConnectionKB !== undefined)
    rows.push(["edge RSS per connection", `${r.rssPerConnectionKB} KB${r.gcForced ? " (after a full GC)" : " (no GC forced: start the edge with --inspect=127.0.0.1:9229)"}`]);
  for (const p of r.processes) rows.push([`process ${p.name} (${p.pid})`, `CPU ${p.cpuPercent}%  RSS ${p.rssMB} MB`]);
  return rows.map(([k, v]) => `${k.padEnd(48)} ${v}`).join("\n");
}
