import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "@redup/proto/grpc/health/v1/health_pb";
import { GetRoomRequestSchema, RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, createServiceClient, startConnectServer, toConnectError, type RunningServer } from "../src/index.js";
import { codeOf, strictCall, strictClientMissing } from "../src/testing/index.js";

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

describe("errors relayed from another call", () => {
  it("keep their code, message and details but none of that call's metadata", () => {
    const upstream = new ConnectError("room 7 does not exist", Code.NotFound, { "content-type": "application/json", "content-length": "72", date: "x", "grpc-status": "5" });
    upstream.details = [{ type: "google.rpc.ErrorInfo", value: new Uint8Array([1, 2]) }];
    const relayed = toConnectError(upstream);
    expect([relayed.code, relayed.rawMessage]).toEqual([Code.NotFound, "room 7 does not exist"]);
    expect([...relayed.metadata.keys()]).toEqual([]);
    expect(relayed.details).toEqual(upstream.details);
    expect(relayed.cause).toBe(upstream);
    // Found as the cause of another error, too; a local error is passed on as it is.
    expect([...toConnectError(new Error("wrapped", { cause: upstream })).metadata.keys()]).toEqual([]);
    const local = new ConnectError("no", Code.PermissionDenied);
    expect(toConnectError(local)).toBe(local);
  });

  describe("reach a strict HTTP/2 client (curl) with nothing but the status in the trailers", () => {
    let upstream: RunningServer;
    let relay: RunningServer;
    beforeAll(async () => {
      upstream = await startConnectServer({ routes: () => {}, serviceNames: [], ready: async () => true, logger, host: "127.0.0.1", port: 0 });
      const health = createServiceClient(Health, { baseUrl: upstream.url, timeoutMs: 5000 });
      relay = await startConnectServer({
        // GetRoom asks the other server's Health about a service it does not know: NotFound,
        // a relayed error; ResolveGroupRoom refuses by itself: a local one.
        routes: (router) =>
          router.service(RoomsService, {
            getRoom: async () => {
              await health.check({ service: "no.such.Service" });
              throw new Error("unreachable");
            },
            resolveGroupRoom: async () => {
              throw new ConnectError('unknown service "no.such.Service"', Code.NotFound);
            },
          }),
        serviceNames: [RoomsService.typeName],
        ready: async () => true,
        logger,
        host: "127.0.0.1",
        port: 0,
      });
    });
    afterAll(async () => {
      await relay?.close();
      await upstream?.close();
    });

    const ONLY_STATUS = ["grpc-message", "grpc-status"];
    for (const protocol of ["grpc", "grpc-web", "connect"] as const) {
      it(protocol, async (ctx) => {
        const missing = strictClientMissing();
        if (missing) ctx.skip(missing);
        const request = toBinary(GetRoomRequestSchema, create(GetRoomRequestSchema, { roomId: 7n }));
        const relayed = await strictCall(relay.url, `/${RoomsService.typeName}/GetRoom`, protocol, request);
        const local = await strictCall(relay.url, `/${RoomsService.typeName}/ResolveGroupRoom`, protocol, request);
        for (const answer of [relayed, local]) {
          expect(answer.exit, answer.stderr).toBe(0);
          if (protocol === "connect") {
            expect(answer.status).toBe(404);
            expect(JSON.parse(answer.body.toString("utf8"))).toEqual({ code: "not_found", message: 'unknown service "no.such.Service"' });
            expect(answer.trailers).toEqual([]);
          } else {
            expect(answer.status).toBe(200);
            expect(answer.trailers.map(([name]) => name).sort()).toEqual(ONLY_STATUS);
            expect(Object.fromEntries(answer.trailers)["grpc-status"]).toBe(String(Code.NotFound));
          }
        }
        // A relayed error looks exactly like a local one.
        expect(relayed.headers.map(([name]) => name).sort()).toEqual(local.headers.map(([name]) => name).sort());
        expect(relayed.trailers).toEqual(local.trailers);
      });
    }
  });
});
