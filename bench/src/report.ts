import type { Histogram } from "hdr-histogram-js";
import type { Ledger } from "./clients.js";
import type { InboxSummary } from "./scenarios/conversations.js";
import type { OverloadSummary } from "./scenarios/overload.js";
import { summarise, type CpuWindow, type LatencySummary } from "./stats.js";

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
  /** The overload scenario's timeline and summary. */
  overload?: OverloadSummary;
  /** The conversations scenario's figures. */
  inbox?: InboxSummary;
}

export interface Report {
  scenario: string;
  params: Record<string, unknown>;
  sent: number;
  ackedSaved: number;
  ackedUnsaved: number;
  ackErrors: number;
  /** Refusals by protocol code (TIMEOUT: no answer within 30 s). */
  refusals: Record<string, number>;
  received: number;
  lost: number;
  duplicates: number;
  /** Messages a socket got after a newer one of the same room. */
  outOfOrder: number;
  receivedPerSecond: number;
  ackLatencyMs: LatencySummary;
  receiveLatencyMs: LatencySummary;
  connections: number;
  connectErrors: number;
  connectionSetupMs?: LatencySummary;
  catchUpMs?: LatencySummary;
  rssPerConnectionKB?: number;
  gcForced?: boolean;
  overload?: OverloadSummary;
  inbox?: InboxSummary;
  firstContactMs?: number;
  /**
   * The measured stretch (the load, not setup or drain): seconds, messages ACKed in it, and
   * per process its CPU (percent of one core) and CPU per message in microseconds.
   * "system" is every server with PostgreSQL and NATS; the load generator is apart.
   */
  window?: {
    seconds: number;
    messages: number;
    processes: { name: string; cpuPercent: number; cpuUsPerMessage: number; rssMB: number }[];
    systemCpuUsPerMessage: number;
    systemCpuPercent: number;
    /** The whole machine: its cores, how busy they were, and what other processes took. */
    machine?: { cores: number; busyPercent: number; othersPercent: number };
  };
}

export function buildReport(scenario: string, params: Record<string, unknown>, result: ScenarioResult, window: CpuWindow | undefined): Report {
  const l = result.ledger;
  const measured = window?.result();
  const messages = l.ackedSaved + l.ackedUnsaved;
  const round = (n: number) => Math.round(n * 10) / 10;
  const processes = (measured?.cpu ?? []).map((p) => ({
    name: p.name,
    cpuPercent: measured!.seconds > 0 ? round((p.cpuSeconds / measured!.seconds) * 100) : 0,
    cpuUsPerMessage: messages > 0 ? round((p.cpuSeconds * 1e6) / messages) : 0,
    rssMB: Math.round(p.rssBytes / 2 ** 20),
  }));
  const system = processes.filter((p) => p.name !== "load generator");
  return {
    scenario,
    params,
    sent: l.sent,
    ackedSaved: l.ackedSaved,
    ackedUnsaved: l.ackedUnsaved,
    ackErrors: l.ackErrors,
    refusals: Object.fromEntries(l.refusals),
    received: l.received,
    lost: l.lost,
    duplicates: l.duplicates,
    outOfOrder: l.outOfOrder,
    receivedPerSecond: result.sendSeconds > 0 ? Math.round(l.received / result.sendSeconds) : 0,
    ackLatencyMs: summarise(l.ackLatency),
    receiveLatencyMs: summarise(l.receiveLatency),
    connections: result.connections,
    connectErrors: result.connectErrors,
    ...(result.catchUpLabel ? { catchUpMs: summarise(result.setup) } : { connectionSetupMs: summarise(result.setup) }),
    ...(result.firstContactMs !== undefined ? { firstContactMs: result.firstContactMs } : {}),
    ...(result.rssPerConnectionBytes !== undefined ? { rssPerConnectionKB: Math.round(result.rssPerConnectionBytes / 102.4) / 10 } : {}),
    ...(result.gcForced !== undefined ? { gcForced: result.gcForced } : {}),
    ...(result.overload ? { overload: result.overload } : {}),
    ...(result.inbox ? { inbox: result.inbox } : {}),
    ...(measured && messages > 0
      ? {
          window: {
            seconds: round(measured.seconds),
            messages,
            processes,
            systemCpuUsPerMessage: round(system.reduce((n, p) => n + p.cpuUsPerMessage, 0)),
            systemCpuPercent: round(system.reduce((n, p) => n + p.cpuPercent, 0)),
            ...(measured.machine && measured.machine.totalSeconds > 0
              ? {
                  machine: {
                    cores: Math.round(measured.machine.totalSeconds / measured.seconds),
                    busyPercent: round((measured.machine.busySeconds / measured.machine.totalSeconds) * 100),
                    othersPercent: round(((measured.machine.busySeconds - measured.cpu.reduce((n, p) => n + p.cpuSeconds, 0)) / measured.seconds) * 100),
                  },
                }
              : {}),
          },
        }
      : {}),
  };
}

const lat = (s: LatencySummary | undefined) => (s && s.count > 0 ? `p50 ${s.p50} / p95 ${s.p95} / p99 ${s.p99} / max ${s.max} ms` : "—");

/** The human table. */
export function formatReport(r: Report): string {
  const rows: [string, string | number][] = [
    ["scenario", `${r.scenario} ${JSON.stringify(r.params)}`],
    ["sent / ACKed saved / ACKed unsaved / ACK errors", `${r.sent} / ${r.ackedSaved} / ${r.ackedUnsaved} / ${r.ackErrors}`],
    ["refusals by code", Object.keys(r.refusals).length > 0 ? Object.entries(r.refusals).map(([c, n]) => `${c} ${n}`).join(", ") : "none"],
    ["received / lost / duplicates / out of order", `${r.received} / ${r.lost} / ${r.duplicates} / ${r.outOfOrder}`],
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
  if (r.overload) {
    const o = r.overload;
    rows.push(["offered", `${o.rates.overload} msgs/s for ${o.seconds.overload} s, then ${o.rates.after} msgs/s for ${o.seconds.after} s`]);
    rows.push(["accepted during the overload: send → ACK", lat(o.acceptedDuringOverload)]);
    rows.push(["refused during the overload: send → refusal", lat(o.refusalLatency)]);
    rows.push(["back to normal after the drop", o.recoverySeconds === null ? "never within the run" : `${o.recoverySeconds} s (normal ACK p99 ${o.normalP99Ms} ms)`]);
    rows.push(["peak RSS", Object.entries(o.peakRssMB).map(([n, mb]) => `${n} ${mb} MB`).join(", ")]);
  }
  if (r.inbox) {
    const b = r.inbox;
    rows.push(["seeded inbox", `user ${b.seeded.userId}: ${b.seeded.rooms} rooms, ${b.seeded.messages} messages, ${b.seeded.unreadPerRoom} unread per room (${b.seeded.seedSeconds} s)`]);
    rows.push(["get_conversations, first page of 20", lat(b.firstPage)]);
    rows.push(["get_conversations, every page of a walk", `${lat(b.walkPage)} (${b.pagesWalked} pages, ${b.roomsWalked} rooms)`]);
    rows.push(["mark_read up_to", lat(b.markUpTo)]);
    rows.push(["unread in the first page, before / after", `${b.unreadBefore} / ${b.unreadAfter}`]);
  }
  if (r.window) {
    rows.push(["measured stretch", `${r.window.seconds} s, ${r.window.messages} messages ACKed`]);
    for (const p of r.window.processes) rows.push([`  ${p.name}`, `CPU ${p.cpuPercent}% of a core, ${p.cpuUsPerMessage} µs per message, RSS ${p.rssMB} MB`]);
    rows.push(["  system (servers, PostgreSQL, NATS)", `CPU ${r.window.systemCpuPercent}%, ${r.window.systemCpuUsPerMessage} µs per message`]);
    const m = r.window.machine;
    if (m) rows.push(["  machine", `${m.cores} cores ${m.busyPercent}% busy; other processes ${m.othersPercent}% of a core`]);
  }
  return rows.map(([k, v]) => `${k.padEnd(48)} ${v}`).join("\n");
}
