import { readFileSync } from "node:fs";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";

export interface ClientOptions {
  /** http://host:port for h2c, https://host:port for TLS. */
  baseUrl: string;
  /** Deadline applied to every call that does not set its own. */
  timeoutMs?: number;
  /** A PEM CA bundle to trust for https URLs (self-signed deployments). */
  caFile?: string | undefined;
  interceptors?: Interceptor[];
}

/**
 * A typed client for any RedUP service over gRPC on one long-lived HTTP/2 connection
 * (kept alive with pings, re-established after failures).
 */
export function createServiceClient<T extends DescService>(service: T, options: ClientOptions): Client<T> {
  const transport = createGrpcTransport({
    baseUrl: options.baseUrl,
    defaultTimeoutMs: options.timeoutMs ?? 5000,
    pingIntervalMs: 15_000,
    pingTimeoutMs: 5000,
    idleConnectionTimeoutMs: 15 * 60_000,
    interceptors: options.interceptors ?? [],
    ...(options.caFile ? { nodeOptions: { ca: readFileSync(options.caFile) } } : {}),
  });
  return createClient(service, transport);
}
