import type { IncomingMessage, ServerResponse } from "node:http";
import type { Client } from "@connectrpc/connect";
import type { EventBus } from "@redup/kit";
import { HealthCheckResponse_ServingStatus, type Health } from "@redup/proto/grpc/health/v1/health_pb";
import { readDemoAsset } from "./demo/assets.js";
import { CHAT_PAGE } from "./demo/chat.js";
import { TESTER_PAGE } from "./demo/tester.js";
import type { Docs } from "./docs.js";
import type { Metrics } from "./metrics.js";

export interface Probes {
  /** Health clients of the services the edge needs, by name. */
  services: Record<string, Client<typeof Health>>;
  bus: EventBus;
  metrics: Metrics;
  /** Set once shutdown begins, so load balancers stop sending new clients. */
  draining: () => boolean;
  /** Whether GET /demo serves the demo chat (and /demo/tester the protocol tester). */
  demoPage: boolean;
  /** The protocol reference and AsyncAPI document served under /docs/ (none when docs/ is missing). */
  docs: Docs | undefined;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
};

async function serving(client: Client<typeof Health>): Promise<boolean> {
  try {
    const { status } = await client.check({ service: "" }, { timeoutMs: 1000 });
    return status === HealthCheckResponse_ServingStatus.SERVING;
  } catch {
    return false;
  }
}

/**
 * The edge's own HTTP routes next to Socket.IO: GET /healthz (the process answers),
 * /readyz (services and NATS reachable), /metrics (Prometheus), /docs/ (the protocol
 * reference, its Markdown and the AsyncAPI document) and, when enabled, /demo (the chat,
 * its bundle under /demo/) and /demo/tester.
 */
export function createHttpRoutes(probes: Probes) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "method not allowed" });
    if (path === "/healthz") return json(res, 200, { status: "ok" });
    if (path === "/readyz") {
      const names = Object.keys(probes.services);
      const results = await Promise.all(names.map((name) => serving(probes.services[name]!)));
      const checks: Record<string, boolean> = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
      checks["nats"] = probes.bus.connected;
      const ready = !probes.draining() && Object.values(checks).every(Boolean);
      return json(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", draining: probes.draining(), checks });
    }
    if (probes.demoPage && (path === "/demo" || path === "/demo/tester")) {
      // The chat runs only its own bundle; its pages show other people's text.
      const csp = path === "/demo" ? { "content-security-policy": "default-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:" } : {};
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...csp });
      res.end(path === "/demo" ? CHAT_PAGE : TESTER_PAGE);
      return;
    }
    if (probes.demoPage && path?.startsWith("/demo/")) {
      const asset = await readDemoAsset(path.slice("/demo/".length));
      if (asset === "unknown") return json(res, 404, { error: "not found" });
      if (asset === "missing") return json(res, 503, { error: "the demo is not built: run npm run build -w @redup/edge" });
      res.writeHead(200, { "content-type": asset.type, "cache-control": "no-cache", "x-content-type-options": "nosniff" });
      res.end(asset.body);
      return;
    }
    if (probes.docs && (path === "/docs" || path?.startsWith("/docs/"))) {
      const docs = probes.docs;
      // The page's relative links (asyncapi.yaml, #anchors) resolve under /docs/.
      if (path === "/docs") {
        res.writeHead(301, { location: "/docs/" });
        res.end();
        return;
      }
      const file: Record<string, [string, string]> = {
        "/docs/": ["text/html; charset=utf-8", docs.html],
        "/docs/protocol.md": ["text/markdown; charset=utf-8", docs.markdown],
        "/docs/asyncapi.yaml": ["application/yaml; charset=utf-8", docs.asyncapi],
      };
      const found = file[path];
      if (!found) return json(res, 404, { error: "not found" });
      // Our own static text: no scripts run on these pages.
      res.writeHead(200, { "content-type": found[0], "cache-control": "no-cache", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'", "x-content-type-options": "nosniff" });
      res.end(found[1]);
      return;
    }
    if (path === "/metrics") {
      res.writeHead(200, { "content-type": probes.metrics.registry.contentType });
      res.end(await probes.metrics.registry.metrics());
      return;
    }
    json(res, 404, { error: "not found" });
  };
}
