import * as http2 from "node:http2";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { serviceAuthInterceptor } from "./credentials.js";
import { errorInterceptor } from "./errors.js";
import { serverTracing } from "./tracing.js";
import { registerHealth, type HealthState, type ReadinessCheck } from "./health.js";
import { registerReflection } from "./reflection.js";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface ConnectServerOptions {
  /** Registers the service's implementation(s) on the router. */
  routes: (router: ConnectRouter) => void;
  /** Fully qualified names of the services served, for the health service. */
  serviceNames: string[];
  /** Readiness for grpc.health.v1 (e.g. the database answers). */
  ready: ReadinessCheck;
  logger: Logger;
  host: string;
  port: number;
  tls?: TlsFiles | undefined;
  interceptors?: Interceptor[];
  /** The bearer token every RPC but health must carry; undefined accepts any caller (development). */
  serviceToken?: string | undefined;
  /** How long shutdown waits for in-flight calls before cutting connections. */
  shutdownGraceMs?: number;
}

export interface RunningServer {
  /** The bound port (useful with port 0). */
  port: number;
  /** The port of GET /metrics, when metrics are served. */
  metricsPort?: number | undefined;
  /** The base URL clients use to reach this server. */
  url: string;
  /** Stop accepting, let in-flight calls finish (up to the grace period), then close. */
  close(): Promise<void>;
}

/**
 * Serves gRPC, gRPC-Web and Connect on HTTP/2 (h2c by default; TLS with HTTP/1.1 fallback
 * when certificate files are given), plus grpc.health.v1 and server reflection
 * (grpc.reflection.v1 and v1alpha) describing every service served.
 */
export async function startConnectServer(options: ConnectServerOptions): Promise<RunningServer> {
  const state: HealthState = { shuttingDown: false, watchers: new Set() };
  const handler = connectNodeAdapter({
    // Tracing outermost, so a refused call's span carries its error.
    interceptors: [serverTracing(options.serviceNames[0] ?? "redup"), errorInterceptor(options.logger), serviceAuthInterceptor(options.serviceToken), ...(options.interceptors ?? [])],
    routes: (router) => {
      options.routes(router);
      registerHealth(router, options.serviceNames, options.ready, state);
      // Last: it describes every service registered above, and itself.
      registerReflection(router);
    },
  });

  const server = options.tls
    ? http2.createSecureServer(
        { cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile), allowHTTP1: true },
        handler,
      )
    : http2.createServer(handler);

  // Small RPCs are latency-bound: without this, Nagle's algorithm holds response frames back
  // for the peer's delayed ACK (tens of milliseconds per call).
  server.on("connection", (socket: import("node:net").Socket) => socket.setNoDelay(true));
  server.on("secureConnection", (socket: import("node:tls").TLSSocket) => socket.setNoDelay(true));

  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const scheme = options.tls ? "https" : "http";
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${bound}`;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      state.shuttingDown = true;
      for (const wake of state.watchers) wake();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // GOAWAY: clients stop opening streams here; open streams run to completion.
      for (const session of sessions) session.close();
      const grace = options.shutdownGraceMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), grace);
      });
      if ((await Promise.race([closed, timedOut])) === "timeout") {
        options.logger.warn({ open: sessions.size }, "shutdown grace period over, cutting connections");
        for (const session of sessions) session.destroy();
        await closed;
      }
      clearTimeout(timer);
    })();
    return closing;
  };

  return { port: bound, url, close };
}
