import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { waitFor } from "@redup/kit/testing";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A service running as its own process, as in production: `node services/<name>/dist/main.js`. */
export interface ServiceProcess {
  name: string;
  port: number;
  readonly pid: number | undefined;
  start(): Promise<void>;
  /** SIGKILL: no shutdown, no draining — a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Open file descriptors and resident memory, from /proc. */
  usage(): { fds: number; rssBytes: number } | undefined;
}

/**
 * `logFile`: where the process's log lines (pino, warn and up by default) go, appended across
 * restarts, to explain a failed run; without it they are dropped.
 */
export function serviceProcess(name: "rooms" | "messages" | "delivery" | "edge", port: number, env: Record<string, string>, logFile?: string): ServiceProcess {
  let child: ChildProcess | undefined;
  const entry = `${ROOT}services/${name}/dist/main.js`;
  // Generous: on a loaded 2-core machine a service takes from 4 s to over 20 s to start.
  const readyMs = 60_000;
  const ready = async () => {
    if (name === "edge") {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, readyMs, `${name} to answer`);
    } else {
      const { connect } = await import("node:net");
      await waitFor(
        () =>
          new Promise<boolean>((resolve) => {
            const s = connect(port, "127.0.0.1");
            s.once("connect", () => (s.destroy(), resolve(true)));
            s.once("error", () => resolve(false));
          }),
        readyMs,
        `${name} to listen`,
      );
    }
  };
  const exited = (c: ChildProcess) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once("exit", () => resolve())));
  return {
    name,
    port,
    get pid() {
      return child?.pid;
    },
    async start() {
      const out = logFile === undefined ? "ignore" : openSync(logFile, "a");
      child = spawn(process.execPath, ["--enable-source-maps", entry], { env: { ...process.env, ...env, LOG_LEVEL: env["LOG_LEVEL"] ?? "warn" }, stdio: ["ignore", out, "inherit"] });
      if (typeof out === "number") closeSync(out);
      await ready();
    },
    async kill() {
      const c = child;
      if (!c) return;
      c.kill("SIGKILL");
      await exited(c);
    },
    async stop() {
      const c = child;
      if (!c) return;
      c.kill("SIGTERM");
      await exited(c);
    },
    usage() {
      const pid = child?.pid;
      if (!pid || child?.exitCode !== null) return undefined;
      try {
        const fds = readdirSync(`/proc/${pid}/fd`).length;
        const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        return { fds, rssBytes: Number(rss?.[1] ?? 0) * 1024 };
      } catch {
        return undefined;
      }
    },
  };
}
