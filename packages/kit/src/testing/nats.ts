import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { freePort } from "./net.js";

/** The nats-server binary: NATS_SERVER_BIN, the Debian path, or PATH. */
function natsServerBin(): string {
  const configured = process.env["NATS_SERVER_BIN"];
  if (configured) return configured;
  return existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server";
}

export interface TestNats {
  url: string;
  port: number;
  /** Kills the server (an outage). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** A private nats-server on a free loopback port, for tests that stop and restart it. */
export async function startTestNats(): Promise<TestNats> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(natsServerBin(), ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    await waitForPort(port, 10_000);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once("exit", () => resolve());
      c.kill("SIGKILL");
    });
  };
  await start();
  return { url: `nats://127.0.0.1:${port}`, port, stop, start };
}
