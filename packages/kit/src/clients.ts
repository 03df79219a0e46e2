import { readFileSync } from "node:fs";
import { connect as netConnect, isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { serviceTokenInterceptor } from "./credentials.js";
import { clientTracing } from "./tracing.js";
import type { DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";

export interface ClientOptions {
  /** http://host:port for h2c, https://host:port for TLS. */
  baseUrl: string;
  /** Deadline applied to every call that does not set its own. */
  timeoutMs?: number;
  /** A PEM CA bundle to trust for https URLs (self-signed deployments). */
  caFile?: string | undefined;
  interceptors?: Interceptor[];
  /** The service credential sent as `authorization: Bearer` on every call. */
  token?: string | undefined;
  /** Extra attempts for calls the contract marks idempotent; 0 disables retries. */
  retries?: number;
}

const RETRYABLE = new Set([Code.Unavailable, Code.Aborted]);

/**
 * Retries a failed call only when the .proto marks the method IDEMPOTENT or NO_SIDE_EFFECTS
 * (`option idempotency_level`) and the failure is transient; never for deadline expiry,
 * which may mean the first attempt is still running.
 */
export function retryIdempotent(retries: number, backoffMs = 100): Interceptor {
  return (next) => async (req) => {
    const safe = req.method.idempotency !== Idempotency.IDEMPOTENCY_UNKNOWN && !req.stream;
    for (let attempt = 0; ; attempt++) {
      try {
        return await next(req);
      } catch (err) {
        const code = ConnectError.from(err).code;
        if (!safe || attempt >= retries || !RETRYABLE.has(code) || req.signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, backoffMs * 2 ** attempt));
      }
    }
  };
}

/**
 * HTTP/2 session options with Nagle's algorithm off: a small RPC otherwise waits for the
 * peer's delayed ACK (milliseconds per call on loopback, more across hosts).
 */
function connectionOptions(baseUrl: string, caFile: string | undefined) {
  const url = new URL(baseUrl);
  const ca = caFile ? readFileSync(caFile) : undefined;
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return {
    ...(ca ? { ca } : {}),
    createConnection: () => {
      const socket =
        url.protocol === "https:"
          ? tlsConnect({ host, port, servername: isIP(host) ? undefined : host, ALPNProtocols: ["h2"], ...(ca ? { ca } : {}) })
          : netConnect({ host, port });
      socket.setNoDelay(true);
      return socket;
    },
  };
}

/**
 * A typed client for any RedUP service on one long-lived HTTP/2 connection (kept alive with
 * pings, re-established after failures). It speaks the Connect protocol with binary protobuf,
 * which every service serves next to gRPC and gRPC-Web: a unary Connect call is a plain
 * request and response (no trailers, no streaming envelope), and costs about half the CPU of
 * the same call over gRPC in connect-node (measured: 0.39 vs 0.70 ms of client CPU per call).
 * Outside callers keep using gRPC; the contract and error codes are the same.
 */
export function createServiceClient<T extends DescService>(service: T, options: ClientOptions): Client<T> {
  const transport = createConnectTransport({
    httpVersion: "2",
    useBinaryFormat: true,
    baseUrl: options.baseUrl,
    defaultTimeoutMs: options.timeoutMs ?? 5000,
    pingIntervalMs: 15_000,
    pingTimeoutMs: 5000,
    idleConnectionTimeoutMs: 15 * 60_000,
    // Inside the cluster compression costs more CPU than it saves bandwidth (the servers would
    // gzip every answer over 1 KiB, e.g. each SendMessages batch).
    acceptCompression: [],
    interceptors: [
      clientTracing(),
      ...(options.interceptors ?? []),
      ...(options.token ? [serviceTokenInterceptor(options.token)] : []),
      retryIdempotent(options.retries ?? 1),
    ],
    nodeOptions: connectionOptions(options.baseUrl, options.caFile),
  });
  return createClient(service, transport);
}
