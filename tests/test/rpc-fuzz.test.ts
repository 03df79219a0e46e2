/**
 * Random and truncated protobuf sent to every RPC of every service over plain gRPC
 * (@grpc/grpc-js): each call is answered with a status (never UNKNOWN), a refused call
 * writes no row, the services stay up, and a valid call still works afterwards.
 */
import * as grpc from "@grpc/grpc-js";
import { create, toBinary, type DescService } from "@bufbuild/protobuf";
import { coreTestEnv, createTestDatabase, waitFor, withClient, type TestDatabase } from "@redup/kit/testing";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { MessagesService, SendMessageRequestSchema } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomsService, RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { startCoreServices, type CoreServices } from "@redup/system";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const RUNS_PER_METHOD = Number(process.env["RPC_FUZZ_RUNS"] ?? 40);
const TABLES = ["salas_chat", "chat_miembros_grupo", "mensajes", "mensajes_cliente", "destinatarios_mensaje", "despachos_mensaje"];

let db: TestDatabase;
let core: CoreServices;

beforeAll(async () => {
  db = await createTestDatabase("rpcfuzz");
  core = await startCoreServices(coreTestEnv(db.url), { logLevel: "silent" });
});
afterAll(async () => {
  await core?.close();
  await db?.drop();
});

/**
 * A stored message is handed to delivery after the answer: wait for the outbox to empty, so
 * a refused call's "no row written" is not confused with an earlier send's hand-off landing.
 */
const handedOff = () =>
  waitFor(async () => (await withClient(db.url, async (c) => (await c.query("select count(*)::int as n from mensajes_despacho_pendiente")).rows[0].n)) === 0, 10_000, "the outbox to empty");

const counts = () =>
  withClient(db.url, async (c) => (await c.query(`select ${TABLES.map((t) => `(select count(*) from ${t})::int as ${t}`).join(", ")}`)).rows[0] as Record<string, number>);

function rawCall(url: string, path: string, body: Buffer): Promise<grpc.status> {
  const client = new grpc.Client(new URL(url).host, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, { deadline: Date.now() + 10_000 } as grpc.CallOptions, (err) => {
      client.close();
      resolve(err ? err.code : grpc.status.OK);
    });
  });
}

/** Bytes to send: random, truncated valid requests, or valid requests with flipped bytes. */
const VALID = Buffer.from(
  toBinary(SendMessageRequestSchema, create(SendMessageRequestSchema, { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "hola" })),
);
const bodies = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.integer({ min: 0, max: VALID.length - 1 }).map((n) => VALID.subarray(0, n)),
  fc.tuple(fc.integer({ min: 0, max: VALID.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
    const copy = Buffer.from(VALID);
    copy[i] = v;
    return copy;
  }),
);

const services: [DescService, () => string][] = [
  [RoomsService, () => core.rooms.url],
  [MessagesService, () => core.messages.url],
  [DeliveryService, () => core.delivery.url],
];

describe("fuzzing every RPC with random protobuf", () => {
  for (const [service, url] of services) {
    for (const method of service.methods) {
      it(`${service.typeName}/${method.name}`, async () => {
        await fc.assert(
          fc.asyncProperty(bodies, async (body) => {
            await handedOff();
            const before = await counts();
            const code = await rawCall(url(), `/${service.typeName}/${method.name}`, body);
            expect(code).not.toBe(grpc.status.UNKNOWN);
            if (code !== grpc.status.OK) expect(await counts()).toEqual(before);
          }),
          { numRuns: RUNS_PER_METHOD },
        );
      });
    }
  }

  it("leaves every service up and a valid call working", async () => {
    for (const [service, url] of services) {
      expect(await rawCall(url(), "/grpc.health.v1.Health/Check", Buffer.alloc(0)), service.typeName).toBe(grpc.status.OK);
    }
    expect(await rawCall(core.messages.url, "/redup.messages.v1.MessagesService/SendMessage", VALID)).toBe(grpc.status.OK);
  });
});
