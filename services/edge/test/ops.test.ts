/** The edge's operational surface: health, readiness, metrics, CORS, config errors. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@redup/kit/testing";
import { loadConfig } from "../src/config.js";
import type { EdgeServer } from "../src/index.js";
import { call, connectUser, startStack, type Stack } from "./harness.js";

let stack: Stack;
let edge: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge({ CORS_ALLOWED_ORIGINS: "https://app.redup.edu, https://www.redup.edu" });
});
afterAll(async () => {
  await stack?.close();
});

describe("HTTP routes", () => {
  it("answers /healthz and /readyz", async () => {
    const health = await fetch(`${edge.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${edge.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", draining: false, checks: { rooms: true, messages: true, delivery: true, nats: true } });
    expect((await fetch(`${edge.url}/nope`)).status).toBe(404);
  });

  it("exposes Prometheus metrics that count sockets, events and service calls", async () => {
    const user = await connectUser(edge, 6001);
    await call(user.socket, "send_message", { to: 6002, message: "métricas", type: "directo" });
    await call(user.socket, "send_message", { to: "x", message: "mal", type: "directo" });
    // The live event follows the ACK (the sender's other devices would get it): wait for it.
    const metrics = () => fetch(`${edge.url}/metrics`).then((r) => r.text());
    await waitFor(async () => /^redup_edge_nats_messages_received_total\{kind="user.message"\} [1-9]\d*$/m.test(await metrics()), 5000, "the live event");
    const text = await metrics();
    expect(text).toMatch(/^redup_edge_connected_sockets 1$/m);
    expect(text).toMatch(/^redup_edge_events_total\{event="send_message",outcome="ok"\} 1$/m);
    expect(text).toMatch(/^redup_edge_events_total\{event="send_message",outcome="INVALID_ID"\} 1$/m);
    expect(text).toMatch(/^redup_edge_service_call_duration_seconds_count\{service="MessagesService",method="SendMessages",code="ok"\} 1$/m);
    expect(text).toMatch(/^redup_edge_send_batch_size_count 1$/m);
    expect(text).toMatch(/^redup_edge_nats_messages_received_total\{kind="user.message"\} 1$/m);
    expect(text).toContain("redup_edge_nats_errors_total");
    // Message bodies never appear in metrics.
    expect(text).not.toContain("métricas");
    user.socket.disconnect();
  });
});

describe("CORS", () => {
  it("allows listed origins only", async () => {
    const handshake = (origin: string) => fetch(`${edge.url}/socket.io/?EIO=4&transport=polling&user_id=1`, { headers: { origin } });
    const allowed = await handshake("https://app.redup.edu");
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.redup.edu");
    const refused = await handshake("https://evil.example");
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("configuration", () => {
  it("names every bad variable at once", () => {
    expect(() => loadConfig({ PORT: "cinco mil", CORS_ALLOWED_ORIGINS: "app.redup.edu", ROOMS_URL: "ftp://x" })).toThrow(/PORT.*CORS_ALLOWED_ORIGINS.*ROOMS_URL|PORT/);
    try {
      loadConfig({ PORT: "cinco mil", CORS_ALLOWED_ORIGINS: "app.redup.edu", ROOMS_URL: "ftp://x" });
    } catch (err) {
      for (const name of ["PORT", "CORS_ALLOWED_ORIGINS", "ROOMS_URL"]) expect((err as Error).message).toContain(name);
    }
  });

  it("uses the guide's defaults", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 5000, host: "0.0.0.0", corsOrigins: "*", tls: undefined, maxMessageLength: 4000 });
  });
});
