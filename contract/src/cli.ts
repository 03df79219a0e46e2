#!/usr/bin/env node
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatResult, runContract, summary } from "./run.js";

const USAGE = `usage: npm run contract -- --rooms HOST:PORT --messages HOST:PORT --delivery HOST:PORT [options]

Checks every RPC the .proto files declare against a running deployment, one line per check,
then "N passed, N failed"; exits 1 when any check fails (an RPC without a check fails as
"not covered"), 2 on bad usage.

  --rooms, --messages, --delivery HOST:PORT   where each gRPC service listens (required)
  --edge URL              the Socket.IO edge (e.g. http://localhost:5000); its checks are skipped without it
  --token TOKEN           the services' SERVICE_TOKEN (or set REDUP_CONTRACT_TOKEN)
  --edge-tokens JWT,JWT   JWTs of users a and b, for an edge that requires them
  --users A,B,C           existing user ids to act as (a database with foreign keys to usuarios)
  --group G               an existing group id to use
  --tls                   TLS to the services (system CAs)
  --protos DIR            the .proto files (default: this repository's proto/)
  --timeout-ms N          deadline of each call (default 10000)
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function options(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        rooms: { type: "string" },
        messages: { type: "string" },
        delivery: { type: "string" },
        edge: { type: "string" },
        token: { type: "string" },
        "edge-tokens": { type: "string" },
        users: { type: "string" },
        group: { type: "string" },
        tls: { type: "boolean" },
        protos: { type: "string" },
        "timeout-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const address = (name: "rooms" | "messages" | "delivery") => {
    const value = parsed[name];
    if (!value) fail(`--${name} is required`);
    // A URL is accepted too: only host:port is used.
    return /^[a-z]+:\/\//i.test(value) ? new URL(value).host : value;
  };
  const list = (value: string | undefined) => value?.split(",").map((v) => v.trim()).filter(Boolean);
  const users = list(parsed.users);
  if (users && (users.length !== 3 || users.some((u) => !/^[1-9]\d*$/.test(u)))) fail("--users needs three positive integer ids");
  if (parsed.group && !/^[1-9]\d*$/.test(parsed.group)) fail("--group needs a positive integer id");
  const edgeTokens = list(parsed["edge-tokens"]);
  if (edgeTokens && edgeTokens.length !== 2) fail("--edge-tokens needs two JWTs, for users a and b");
  const timeoutMs = parsed["timeout-ms"] ? Number(parsed["timeout-ms"]) : undefined;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) fail("--timeout-ms needs a positive number");
  return {
    protos: parsed.protos ?? fileURLToPath(new URL("../../proto/", import.meta.url)),
    addresses: { rooms: address("rooms"), messages: address("messages"), delivery: address("delivery") },
    edge: parsed.edge,
    token: parsed.token ?? (process.env["REDUP_CONTRACT_TOKEN"] || undefined),
    edgeTokens: edgeTokens as [string, string] | undefined,
    users,
    group: parsed.group,
    tls: parsed.tls,
    timeoutMs,
  };
}

const results = await runContract(options(process.argv.slice(2)), (result) => process.stdout.write(`${formatResult(result)}\n`));
process.stdout.write(`\n${summary(results)}\n`);
process.exit(results.some((r) => r.outcome === "fail") ? 1 : 0);
