import { Code } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "@redup/proto/grpc/health/v1/health_pb";
import { describe, expect, it } from "vitest";
import { createLogger, createServiceClient, startConnectServer } from "../src/index.js";
import { codeOf } from "../src/testing/index.js";

const logger = createLogger({ service: "kit-test", level: "silent" });

describe("startConnectServer", () => {
  it("finishes in-flight calls on close, then refuses new ones", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const server = await startConnectServer({
      routes: () => {},
      serviceNames: ["test.v1.Nothing"],
      // A readiness check that blocks until the test releases it: an in-flight call.
      ready: async () => {
        entered();
        await gate;
        return true;
      },
      logger,
      host: "127.0.0.1",
      port: 0,
    });
    const client = createServiceClient(Health, { baseUrl: server.url, timeoutMs: 5000 });
    const inFlight = client.check({ service: "" });
    await inside;
    const closed = server.close();
    release();
    expect((await inFlight).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await closed;

    const fresh = createServiceClient(Health, { baseUrl: server.url, timeoutMs: 2000 });
    expect(await codeOf(fresh.check({ service: "" }))).toBe(Code.Unavailable);
  });
});

describe("grpc.health.v1 Watch", () => {
  it("reports NOT_SERVING and ends on shutdown instead of holding the server open", async () => {
    const server = await startConnectServer({ routes: () => {}, serviceNames: [], ready: async () => true, logger, host: "127.0.0.1", port: 0 });
    const client = createServiceClient(Health, { baseUrl: server.url, timeoutMs: 30_000 });
    const seen: HealthCheckResponse_ServingStatus[] = [];
    let first!: () => void;
    const gotFirst = new Promise<void>((resolve) => (first = resolve));
    const watching = (async () => {
      for await (const res of client.watch({ service: "" })) {
        seen.push(res.status);
        first();
      }
    })();
    await gotFirst;
    await server.close();
    await watching;
    // The stream ended by itself after saying NOT_SERVING: it no longer holds shutdown open.
    expect(seen).toEqual([HealthCheckResponse_ServingStatus.SERVING, HealthCheckResponse_ServingStatus.NOT_SERVING]);
  });
});
