import { createContext, randomIds, SERVICES, type ServiceName } from "./context.js";
import { connectAs, edgeChecks, extraChecks, rpcChecks, SHARED_SERVICES, type Check, type Checks } from "./checks/index.js";
import { loadRpcs, Target, type Rpc } from "./grpc.js";

export interface ContractOptions {
  /** The folder of the .proto files (the repo's proto/). */
  protos: string;
  /** host:port of each service. */
  addresses: Record<ServiceName, string>;
  /** The Socket.IO edge's URL; its checks are skipped without one. */
  edge?: string | undefined;
  /** The service token (`authorization: Bearer …`), when the deployment requires one. */
  token?: string | undefined;
  /** JWTs of users a and b, for an edge that requires them (their `sub` must be those users). */
  edgeTokens?: [string, string] | undefined;
  /** Existing user ids a, b, c and group id to act as (a database with foreign keys to usuarios/grupos). */
  users?: string[] | undefined;
  group?: string | undefined;
  /** TLS to the services (system CAs). */
  tls?: boolean | undefined;
  timeoutMs?: number | undefined;
}

export type Outcome = "pass" | "fail" | "skip";

export interface Result {
  outcome: Outcome;
  /** The RPC (`package.Service/Method`) or what is checked. */
  name: string;
  /** The service (or edge) it ran against; "-" when it could not run anywhere. */
  where: string;
  ms: number;
  reason?: string;
}

/** One planned check: an RPC and where it runs, with its check (undefined: not covered). */
export interface Planned {
  rpc: Rpc;
  where: ServiceName[];
  check: Check | undefined;
}

/** Which deployment serves a service: redup.<name>.v1.* → <name>; health and reflection → all. */
function routeOf(service: string): ServiceName[] {
  if (SHARED_SERVICES.includes(service)) return [...SERVICES];
  const name = /^redup\.([a-z_]+)\.v\d+\./.exec(service)?.[1];
  return SERVICES.find((s) => s === name) ? [name as ServiceName] : [];
}

/**
 * What the kit will check, from the .proto files: every RPC they declare, each with its check,
 * or none (reported "not covered"); and the checks whose RPC the protos no longer declare.
 */
export function plan(rpcs: Rpc[], checks: Checks = rpcChecks): { planned: Planned[]; stale: string[] } {
  const declared = new Set(rpcs.map((r) => r.name));
  return {
    planned: rpcs.map((rpc) => ({ rpc, where: routeOf(rpc.service), check: checks[rpc.name] })),
    stale: Object.keys(checks).filter((name) => !declared.has(name)).sort(),
  };
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err)).split("\n").map((l) => l.trim()).filter(Boolean).join(" ");

async function timed(name: string, where: string, run: () => Promise<void>): Promise<Result> {
  const started = performance.now();
  try {
    await run();
    return { outcome: "pass", name, where, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { outcome: "fail", name, where, ms: Math.round(performance.now() - started), reason: errorText(err) };
  }
}

/** Runs every check in order, calling `report` as each finishes. */
export async function runContract(options: ContractOptions, report: (result: Result) => void): Promise<Result[]> {
  const results: Result[] = [];
  const emit = (result: Result) => {
    results.push(result);
    report(result);
  };
  const rpcs = loadRpcs(options.protos);
  const byName = new Map(rpcs.map((r) => [r.name, r]));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const targets = Object.fromEntries(
    SERVICES.map((name) => [name, new Target(name, options.addresses[name], byName, options.token, timeoutMs, options.tls ?? false)]),
  ) as Record<ServiceName, Target>;
  const ids = randomIds({ users: options.users, group: options.group });
  const context = createContext(targets, ids);
  const served = (where: ServiceName) => [...new Set(rpcs.filter((r) => routeOf(r.service).length === 1 && routeOf(r.service)[0] === where).map((r) => r.service))].sort();
  try {
    const { planned, stale } = plan(rpcs);
    for (const { rpc, where, check } of planned) {
      if (!check) {
        emit({ outcome: "fail", name: rpc.name, where: "-", ms: 0, reason: "not covered: the protos declare this RPC and the kit has no check for it (add one in contract/src/checks)" });
        continue;
      }
      if (where.length === 0) {
        emit({ outcome: "fail", name: rpc.name, where: "-", ms: 0, reason: "no --<service> flag routes this RPC's service to a deployment" });
        continue;
      }
      for (const name of where) emit(await timed(rpc.name, name, () => check({ ...context, target: targets[name], served: served(name) })));
    }
    for (const name of stale) emit({ outcome: "fail", name, where: "-", ms: 0, reason: "stale: the kit checks an RPC the protos no longer declare" });
    for (const extra of extraChecks) {
      emit(await timed(extra.name, extra.where, () => extra.run({ ...context, target: targets[extra.where], served: served(extra.where) })));
    }
    for (const check of edgeChecks) {
      if (!options.edge) {
        emit({ outcome: "skip", name: check.name, where: "edge", ms: 0, reason: "no --edge given" });
        continue;
      }
      const url = options.edge;
      const tokens = options.edgeTokens;
      emit(
        await timed(check.name, "edge", () =>
          check.run({
            url,
            ids,
            withTokens: tokens !== undefined,
            connect: (user) => connectAs(url, ids[user], tokens?.[user === "a" ? 0 : 1]),
            groupMembers: context.fixtures.group,
          }),
        ),
      );
    }
  } finally {
    for (const target of Object.values(targets)) target.close();
  }
  return results;
}

/** One line per check, as the CLI prints it. */
export function formatResult(r: Result): string {
  const label = { pass: "ok  ", fail: "FAIL", skip: "skip" }[r.outcome];
  return `${label}  ${r.where.padEnd(8)}  ${r.name}${r.reason ? ` — ${r.reason}` : ""}${r.outcome === "skip" ? "" : ` (${r.ms} ms)`}`;
}

/** The closing line: "N passed, N failed" (", N skipped" when any were). */
export function summary(results: Result[]): string {
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  const skipped = count("skip");
  return `${count("pass")} passed, ${count("fail")} failed${skipped ? `, ${skipped} skipped` : ""}`;
}
