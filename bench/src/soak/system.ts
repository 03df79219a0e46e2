import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase, freePort, testNatsUrl, type TestDatabase } from "@redup/kit/testing";

/** One server of the system under test, as the soak watches it. */
export interface ServerProcess {
  name: "rooms" | "messages" | "delivery" | "edge";
  pid: number;
  /** Its Prometheus endpoint (the services' METRICS_PORT; the edge serves its own). */
  metricsUrl: string;
  /** Where its stdout and stderr go, to read when something fails. */
  logFile: string;
}

export interface SoakSystem {
  edgeUrl: string;
  servers: ServerProcess[];
  stop(): Promise<void>;
}

// The repository root, from bench/src/soak or bench/dist/soak alike.
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * The four servers as separate processes (each its own RSS, descriptors and event loop),
 * built with `npm run build`, on free loopback ports, against a fresh database and a NATS
 * subject prefix of their own — so a soak can run beside other tests on a shared machine.
 * start-system.sh is not reused: it binds the fixed ports of a lone bench machine and is
 * stopped by name; here every child is known by its pid and stopped by it.
 */
export async function startSoakSystem(options: { logLevel?: string } = {}): Promise<SoakSystem> {
  const entry = (name: ServerProcess["name"]) => join(ROOT, "services", name, "dist", "main.js");
  const unbuilt = (["rooms", "messages", "delivery", "edge"] as const).filter((name) => !existsSync(entry(name)));
  if (unbuilt.length > 0) throw new Error(`not built: ${unbuilt.map(entry).join(", ")} (npm run build)`);
  const db: TestDatabase = await createTestDatabase("soak");
  const children: ChildProcess[] = [];
  const servers: ServerProcess[] = [];
  const run = `${process.pid}-${Date.now()}`;
  const [rooms, messages, delivery, edge, roomsMetrics, messagesMetrics, deliveryMetrics] = await Promise.all(Array.from({ length: 7 }, () => freePort()));
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    NODE_ENV: "development",
    HOST: "127.0.0.1",
    DATABASE_URL: db.url,
    NATS_URL: testNatsUrl(),
    NATS_SUBJECT_PREFIX: `soak${run.replace("-", "x")}`,
    LOG_LEVEL: options.logLevel ?? "warn",
    DEMO_PAGE: "false",
    ROOMS_URL: `http://127.0.0.1:${rooms}`,
    MESSAGES_URL: `http://127.0.0.1:${messages}`,
    DELIVERY_URL: `http://127.0.0.1:${delivery}`,
    // The soak measures the servers, not the per-socket abuse limits: its few hundred
    // users send far more than one person would (the same budgets as start-system.sh).
    RATE_LIMIT_EVENTS_PER_SEC: "100000",
    RATE_LIMIT_EVENT_BURST: "100000",
    RATE_LIMIT_USER_EVENTS_PER_SEC: "100000",
    RATE_LIMIT_USER_EVENT_BURST: "100000",
  };
  const start = (name: ServerProcess["name"], extra: Record<string, string>, metricsUrl: string) => {
    const logFile = join(tmpdir(), `redup-soak-${run}-${name}.log`);
    const out = createWriteStream(logFile);
    const child = spawn(process.execPath, ["--enable-source-maps", entry(name)], { env: { ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    children.push(child);
    servers.push({ name, pid: child.pid!, metricsUrl, logFile });
  };
  // Ctrl-C or a SIGTERM mid-run must not leave four servers and a database behind.
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`soak: ${signal}, stopping the servers and dropping ${db.name}\n`);
    void stop().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await Promise.all(children.map((c) => stopChild(c)));
      await db.drop();
    })());
  try {
    start("rooms", { ROOMS_PORT: String(rooms), ROOMS_METRICS_PORT: String(roomsMetrics) }, `http://127.0.0.1:${roomsMetrics}/metrics`);
    start("delivery", { DELIVERY_PORT: String(delivery), DELIVERY_METRICS_PORT: String(deliveryMetrics) }, `http://127.0.0.1:${deliveryMetrics}/metrics`);
    start("messages", { MESSAGES_PORT: String(messages), MESSAGES_METRICS_PORT: String(messagesMetrics) }, `http://127.0.0.1:${messagesMetrics}/metrics`);
    const edgeUrl = `http://127.0.0.1:${edge}`;
    start("edge", { PORT: String(edge) }, `${edgeUrl}/metrics`);
    await waitReady(edgeUrl, children, servers);
    return { edgeUrl, servers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Waits for the edge's /readyz (its services and NATS answer), failing early if a server exits. */
async function waitReady(edgeUrl: string, children: ChildProcess[], servers: ServerProcess[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const dead = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead >= 0) throw new Error(`${servers[dead]!.name} exited while starting; see ${servers[dead]!.logFile}`);
    const ready = await fetch(`${edgeUrl}/readyz`).then((r) => r.ok, () => false);
    if (ready) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the edge was not ready within 60 s; logs: ${servers.map((s) => s.logFile).join(", ")}`);
}

/** SIGTERM (graceful shutdown), then SIGKILL after 10 s. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
