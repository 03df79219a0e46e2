/**
 * Errors a service passes on from another service reach a strict HTTP/2 client (curl, i.e.
 * nghttp2, as strict as grpcio and grpc-go) with nothing but the status in the trailers, over
 * gRPC, gRPC-Web and Connect, exactly like errors that start in the service itself.
 *
 * messages relays rooms' NotFound (ListMessages of an unknown room); delivery relays rooms'
 * Unavailable (Dispatch of a group message while rooms' database is down). rooms calls no
 * other service, so its errors are all local; they are checked the same way.
 */
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { coreTestEnv, createTestDatabase, startTcpProxy, strictCall, strictClientMissing, type StrictAnswer, type TcpProxy, type TestDatabase, type WireProtocol } from "@redup/kit/testing";
import { DispatchRequestSchema, DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { ListMessagesRequestSchema, MessagesService, MessageType } from "@redup/proto/redup/messages/v1/messages_pb";
import { GetRoomRequestSchema, RoomsService, RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { startCoreServices, type CoreServices } from "@redup/system";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PROTOCOLS: WireProtocol[] = ["grpc", "grpc-web", "connect"];
/** All a gRPC or gRPC-Web error may carry in its trailers. */
const STATUS_ONLY = ["grpc-message", "grpc-status"];

let db: TestDatabase;
let roomsDb: TcpProxy;
let core: CoreServices;

beforeAll(async () => {
  db = await createTestDatabase("relayed_errors");
  const url = new URL(db.url);
  // rooms reaches the database through a proxy the test can cut.
  roomsDb = await startTcpProxy(Number(url.port || 5432), url.hostname);
  const proxied = new URL(db.url);
  proxied.port = String(roomsDb.port);
  core = await startCoreServices(coreTestEnv(db.url, { ROOMS_DATABASE_URL: proxied.toString(), RPC_TIMEOUT_MS: "8000" }), { logLevel: "silent" });
});

afterAll(async () => {
  await core?.close();
  await roomsDb?.close();
  await db?.drop();
});

const call = <D extends DescMessage>(baseUrl: string, path: string, protocol: WireProtocol, schema: D, init: MessageInitShape<D>) =>
  strictCall(baseUrl, path, protocol, toBinary(schema, create(schema, init)));

/** The answer is a clean error with the given code, whatever the protocol. */
function expectCleanError(answer: StrictAnswer, protocol: WireProtocol, code: Code, where: string) {
  expect(answer.exit, `${where}: curl ${answer.stderr}`).toBe(0);
  if (protocol === "connect") {
    const body = JSON.parse(answer.body.toString("utf8"));
    expect(body.code, where).toBe(Code[code].replace(/[A-Z]/g, (c, at: number) => (at ? "_" : "") + c.toLowerCase()));
    expect(answer.headers.filter(([name]) => name === "content-type"), where).toEqual([["content-type", "application/json"]]);
    expect(Number(Object.fromEntries(answer.headers)["content-length"]), where).toBe(answer.body.length);
    expect(answer.trailers, where).toEqual([]);
  } else {
    expect(answer.status, where).toBe(200);
    expect(answer.trailers.map(([name]) => name).sort(), `${where}: trailers`).toEqual(STATUS_ONLY);
    expect(Object.fromEntries(answer.trailers)["grpc-status"], where).toBe(String(code));
  }
}

describe("relayed errors, seen by a strict HTTP/2 client", () => {
  for (const protocol of PROTOCOLS) {
    it(`messages passes on rooms' NotFound cleanly (${protocol})`, async (ctx) => {
      const missing = strictClientMissing();
      if (missing) ctx.skip(missing);
      const relayed = await call(core.messages.url, `/${MessagesService.typeName}/ListMessages`, protocol, ListMessagesRequestSchema, { roomId: 424242n });
      expectCleanError(relayed, protocol, Code.NotFound, `messages ListMessages (${protocol})`);
      const message = protocol === "connect" ? JSON.parse(relayed.body.toString("utf8")).message : decodeURIComponent(Object.fromEntries(relayed.trailers)["grpc-message"]!);
      expect(message).toBe("room 424242 does not exist");
      // Same shape as an error rooms itself answers.
      const local = await call(core.rooms.url, `/${RoomsService.typeName}/GetRoom`, protocol, GetRoomRequestSchema, { roomId: 424242n });
      expectCleanError(local, protocol, Code.NotFound, `rooms GetRoom (${protocol})`);
      expect(relayed.headers.map(([name]) => name).sort()).toEqual(local.headers.map(([name]) => name).sort());
    });
  }

  it("delivery passes on rooms' Unavailable cleanly (every protocol)", async (ctx) => {
    const missing = strictClientMissing();
    if (missing) ctx.skip(missing);
    const dispatch = {
      message: { id: 1n, senderId: 123n, roomId: 1n, to: 456n, roomType: RoomType.GRUPAL, messageType: MessageType.TEXTO, content: "Hola a todos!" },
      origin: "relayed-errors-test",
    };
    await roomsDb.cut();
    try {
      for (const protocol of PROTOCOLS) {
        const answer = await call(core.delivery.url, `/${DeliveryService.typeName}/Dispatch`, protocol, DispatchRequestSchema, dispatch);
        expectCleanError(answer, protocol, Code.Unavailable, `delivery Dispatch (${protocol})`);
      }
    } finally {
      await roomsDb.restore();
    }
  });
});
