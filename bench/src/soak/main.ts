import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatSoak } from "./format.js";
import { defaultWarmupSeconds, runSoak } from "./soak.js";

const USAGE = `npm run soak -- --minutes N [options]
Starts rooms, messages, delivery and the edge as separate processes (free loopback ports, a fresh
database, the local PostgreSQL and NATS), runs mixed traffic and samples each server's RSS, open
file descriptors and event-loop lag (p99). Prints the slopes after the warm-up and SOAK PASS/FAIL.
  --minutes N            how long the traffic runs (default 30, at most 240)
  --rate N               messages offered per second, direct and group together (default 125:
                         about half of what the 2-core machine of BENCHMARKS.md carries of this mix)
  --group-share F        share of the messages sent to groups (default 0.2)
  --pairs N              direct users, in pairs (default 100)
  --groups N --members N groups and members each (default 10 x 10)
  --history N            get_history reads per second (default 20)
  --reconnects N         users reconnecting per minute, catching up what they missed (default 60)
  --warmup N             seconds left out of the slopes (default: a fifth of the run, 30 s to 5 min)
  --sample N             seconds between samples (default 5)
  --max-messages N       stop sending after N messages whatever the time (default 2000000)
  --drain N              seconds to wait for outstanding deliveries at the end (default 30)
  --json FILE            also write the report and every sample of every server there, as JSON
Exits 1 on SOAK FAIL or when an ACKed message was lost.`;

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    rate: { type: "string", default: "125" },
    "group-share": { type: "string", default: "0.2" },
    pairs: { type: "string", default: "100" },
    groups: { type: "string", default: "10" },
    members: { type: "string", default: "10" },
    history: { type: "string", default: "20" },
    reconnects: { type: "string", default: "60" },
    warmup: { type: "string" },
    sample: { type: "string", default: "5" },
    "max-messages": { type: "string", default: "2000000" },
    drain: { type: "string", default: "30" },
    json: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

function num(name: string, value: string | undefined, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > max) {
    process.stderr.write(`--${name} must be a number from 0 to ${max}\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const minutes = num("minutes", values.minutes, 240);
const report = await runSoak({
  minutes,
  rate: num("rate", values.rate, 20_000),
  groupShare: num("group-share", values["group-share"], 1),
  pairs: num("pairs", values.pairs, 5000),
  groups: num("groups", values.groups, 1000),
  members: num("members", values.members, 500),
  historyPerSecond: num("history", values.history, 1000),
  reconnectsPerMinute: num("reconnects", values.reconnects, 6000),
  warmupSeconds: values.warmup === undefined ? defaultWarmupSeconds(minutes) : num("warmup", values.warmup, minutes * 60),
  sampleSeconds: Math.max(1, num("sample", values.sample, 600)),
  maxMessages: num("max-messages", values["max-messages"], 50_000_000),
  drainSeconds: num("drain", values.drain, 600),
});
process.stdout.write(`${formatSoak(report)}\n`);
if (values.json) writeFileSync(values.json, JSON.stringify({ ...report, series: Object.fromEntries(report.series) }, null, 1));
process.exit(report.pass && report.lost === 0 ? 0 : 1);
