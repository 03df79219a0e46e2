import { parseArgs } from "node:util";
import { buildReport, formatReport } from "./report.js";
import { connections } from "./scenarios/connections.js";
import { conversations } from "./scenarios/conversations.js";
import { direct } from "./scenarios/direct.js";
import { group } from "./scenarios/group.js";
import { overload } from "./scenarios/overload.js";
import { reconnect } from "./scenarios/reconnect.js";
import { CpuWindow, findServerProcesses } from "./stats.js";

const USAGE = `npm run bench -- --scenario direct|group|connections|reconnect|catchup|overload|conversations [options]
  --url URL[,URL...]   the edge, or several (users are spread over them); default http://localhost:5000
  --seconds N          how long the load runs (default 10; every loop is bounded)
  --max-messages N     stop after N messages whatever the time (default 200000)
  --users N            direct: users, in pairs (default 200); overload: 2000
  --rate N             direct: open loop at N msgs/s (default 0 = closed loop); group: msgs/s (default 200; 0 = closed loop)
  --in-flight N        direct closed loop: sends each user keeps outstanding (default 1)
  --groups N --members N   group: 20 x 50 by default
  --senders N          group closed loop: members of each group sending back to back (default 1)
  --count N            connections: idle sockets (default 2000); reconnect: users (default 500)
  --pending N          reconnect: pending messages per user (default 2); catchup: 1000
  --window N           reconnect: seconds over which users reconnect (default 10)
  --max N              overload: the measured maximum, msgs/s; offers 3x it for --seconds (default 60), then half of it for --after (default 30)
  --after N            overload: seconds at half the maximum after the overload (default 30)
  --rooms N --per-room N   conversations: the user's rooms and messages per room, seeded in the database (5000 x 200)
  --repeats N          conversations: first-page calls timed (default 200)
  --database-url URL   conversations: where to seed (default DATABASE_URL, else the bench database of start-system.sh)
  --drain N            seconds to wait for outstanding deliveries after the load (default 10)
Prints a table, then one JSON object on the last line; exits 1 if an ACKed message was lost or a room's messages arrived out of order.`;

const { values } = parseArgs({
  options: {
    scenario: { type: "string" },
    url: { type: "string", default: "http://localhost:5000" },
    seconds: { type: "string", default: "10" },
    "max-messages": { type: "string", default: "200000" },
    users: { type: "string" },
    rate: { type: "string" },
    "in-flight": { type: "string", default: "1" },
    senders: { type: "string", default: "1" },
    max: { type: "string" },
    after: { type: "string", default: "30" },
    groups: { type: "string", default: "20" },
    members: { type: "string", default: "50" },
    count: { type: "string" },
    pending: { type: "string" },
    window: { type: "string", default: "10" },
    drain: { type: "string", default: "10" },
    rooms: { type: "string", default: "5000" },
    "per-room": { type: "string", default: "200" },
    repeats: { type: "string", default: "200" },
    "database-url": { type: "string", default: process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/redup_bench" },
    help: { type: "boolean", default: false },
  },
});

function num(name: string, value: string | undefined, fallback: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`--${name} must be a non-negative number\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  if (values.help || !values.scenario) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const scenario = values.scenario;
  const window = new CpuWindow(findServerProcesses);
  const base = {
    urls: values.url.split(",").map((u) => u.trim()).filter(Boolean),
    window,
    seconds: Math.min(num("seconds", values.seconds, 10), 600),
    maxMessages: num("max-messages", values["max-messages"], 200_000),
    // Fresh user ids per run, so earlier runs' pending messages never leak into this one.
    userIdBase: 1_000_000 + Math.floor(Math.random() * 1_000_000) * 100,
    drainSeconds: Math.min(num("drain", values.drain, 10), 300),
  };
  let params: Record<string, unknown>;
  let result;
  switch (scenario) {
    case "direct":
      params = { users: num("users", values.users, 200), rate: num("rate", values.rate, 0), inFlight: num("in-flight", values["in-flight"], 1), seconds: base.seconds, edges: base.urls.length };
      result = await direct({ ...base, users: params["users"] as number, rate: params["rate"] as number, inFlight: params["inFlight"] as number });
      break;
    case "group":
      params = {
        groups: num("groups", values.groups, 20),
        members: num("members", values.members, 50),
        rate: num("rate", values.rate, 200),
        senders: num("senders", values.senders, 1),
        seconds: base.seconds,
        edges: base.urls.length,
      };
      result = await group({ ...base, groups: params["groups"] as number, members: params["members"] as number, rate: params["rate"] as number, senders: params["senders"] as number });
      break;
    case "overload": {
      const max = num("max", values.max, 0);
      if (max <= 0) {
        process.stderr.write("--max (the measured maximum, msgs/s) is required for the overload scenario\n");
        process.exit(2);
      }
      // Its own default: a minute of overload.
      const seconds = process.argv.includes("--seconds") ? base.seconds : 60;
      params = { users: num("users", values.users, 2000), max, seconds, after: num("after", values.after, 30), edges: base.urls.length };
      result = await overload({ ...base, users: params["users"] as number, max, overloadSeconds: seconds, afterSeconds: params["after"] as number });
      break;
    }
    case "conversations": {
      const seconds = process.argv.includes("--seconds") ? base.seconds : 120;
      params = { rooms: num("rooms", values.rooms, 5000), perRoom: num("per-room", values["per-room"], 200), repeats: num("repeats", values.repeats, 200) };
      result = await conversations({
        ...base,
        seconds,
        databaseUrl: values["database-url"],
        rooms: params["rooms"] as number,
        perRoom: params["perRoom"] as number,
        repeats: params["repeats"] as number,
      });
      break;
    }
    case "connections":
      params = { count: num("count", values.count, 2000) };
      result = await connections({ ...base, count: params["count"] as number });
      break;
    case "reconnect":
    case "catchup": {
      const catchup = scenario === "catchup";
      params = {
        count: num("count", values.count, catchup ? 1 : 500),
        pending: num("pending", values.pending, catchup ? 1000 : 2),
        window: num("window", values.window, catchup ? 0 : 10),
      };
      result = await reconnect({ ...base, count: params["count"] as number, pending: params["pending"] as number, spreadSeconds: params["window"] as number });
      break;
    }
    default:
      process.stderr.write(`unknown scenario "${scenario}"\n${USAGE}\n`);
      process.exit(2);
  }
  const report = buildReport(scenario, params, result, window);
  process.stdout.write(`${formatReport(report)}\n${JSON.stringify(report)}\n`);
  process.exit(report.lost > 0 || report.outOfOrder > 0 ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).message}\n`);
  process.exit(1);
});
