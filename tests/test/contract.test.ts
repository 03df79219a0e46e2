/**
 * Contract tests: every RPC of every service called through @grpc/grpc-js with the service
 * definitions loaded from the .proto files at run time — an independent gRPC stack that
 * shares no generated code with the servers.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { coreTestEnv, createTestDatabase, waitFor, withClient, type TestDatabase } from "@redup/kit/testing";
import { startCoreServices, type CoreServices } from "@redup/system";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PROTO_ROOT = fileURLToPath(new URL("../../proto", import.meta.url));
const definition = protoLoader.loadSync(
  ["redup/rooms/v1/rooms.proto", "redup/messages/v1/messages.proto", "redup/delivery/v1/delivery.proto", "grpc/health/v1/health.proto"],
  { includeDirs: [PROTO_ROOT], longs: String, enums: String, defaults: true, oneofs: true },
);
// proto-loader's output is untyped by design; the tests assert on the plain objects it gives.
const loaded = grpc.loadPackageDefinition(definition) as any;

type Unary = (req: object) => Promise<Record<string, any>>;
type Stub = Record<string, Unary>;

/** Promise wrappers over a grpc-js client's unary methods. */
function stub(Ctor: grpc.ServiceClientConstructor, url: string): Stub & { close(): void } {
  const client = new Ctor(new URL(url).host, grpc.credentials.createInsecure());
  const methods: Stub = {};
  for (const name of Object.keys(Ctor.service)) {
    methods[name] = (req) =>
      new Promise((resolve, reject) => {
        (client as any)[name](req, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: Record<string, any>) =>
          err ? reject(err) : resolve(res),
        );
      });
  }
  return Object.assign(methods, { close: () => client.close() });
}

async function statusOf(promise: Promise<unknown>): Promise<grpc.status> {
  try {
    await promise;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
  throw new Error("expected the call to fail");
}

let db: TestDatabase;
let core: CoreServices;
let rooms: ReturnType<typeof stub>;
let messages: ReturnType<typeof stub>;
let delivery: ReturnType<typeof stub>;

beforeAll(async () => {
  db = await createTestDatabase("contract");
  core = await startCoreServices(coreTestEnv(db.url), { logLevel: "silent" });
  rooms = stub(loaded.redup.rooms.v1.RoomsService, core.rooms.url);
  messages = stub(loaded.redup.messages.v1.MessagesService, core.messages.url);
  delivery = stub(loaded.redup.delivery.v1.DeliveryService, core.delivery.url);
});

afterAll(async () => {
  for (const s of [rooms, messages, delivery]) s?.close();
  await core?.close();
  await db?.drop();
});

describe("rooms over plain gRPC", () => {
  it("answers every RPC", async () => {
    const a = await rooms.ResolveDirectRoom({ userId: "123", peerId: "789" });
    const b = await rooms.ResolveDirectRoom({ userId: "789", peerId: "123" });
    expect(a.room.id).toBe(b.room.id);
    expect(a.room.type).toBe("ROOM_TYPE_DIRECTO");
    expect((await rooms.GetRoom({ roomId: a.room.id })).room.uuid).toBe(a.room.uuid);
    const g = await rooms.ResolveGroupRoom({ groupId: "456" });
    expect(g.room).toMatchObject({ type: "ROOM_TYPE_GRUPAL", groupId: "456" });
    const joined = await rooms.JoinGroup({ groupId: "456", userId: "123" });
    expect(joined).toMatchObject({ alreadyMember: false, member: { groupId: "456", userId: "123" } });
    await rooms.JoinGroup({ groupId: "456", userId: "789" });
    expect((await rooms.CheckMembership({ groupId: "456", userId: "789" })).isMember).toBe(true);
    const members = await rooms.ListGroupMembers({ groupId: "456", pageSize: 10 });
    expect(members.members.map((m: { userId: string }) => m.userId)).toEqual(["123", "789"]);
    expect((await rooms.ListUserGroups({ userId: "123" })).memberships.map((m: { groupId: string }) => m.groupId)).toEqual(["456"]);
    expect((await rooms.LeaveGroup({ groupId: "456", userId: "789" })).wasMember).toBe(true);
    expect(await statusOf(rooms.GetRoom({ roomId: "0" }))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await statusOf(rooms.GetRoom({ roomId: "424242" }))).toBe(grpc.status.NOT_FOUND);
  });
});

describe("messages and delivery over plain gRPC", () => {
  it("sends, reads, edits, deletes, and tracks delivery", async () => {
    const sent = await messages.SendMessage({
      senderId: "123",
      type: "ROOM_TYPE_DIRECTO",
      to: "789",
      messageType: "MESSAGE_TYPE_TEXTO",
      content: "Hola, ¿cómo estás?",
      clientTimestamp: "2024-01-15T10:30:00Z",
      clientMsgId: "contract-1",
      metadata: { fields: { app: { stringValue: "python" } } },
    });
    // The answer comes once the message is stored; delivery records its recipient right after.
    expect(sent.dispatched).toBe(false);
    expect(sent.message).toMatchObject({ senderId: "123", to: "789", content: "Hola, ¿cómo estás?", clientMsgId: "contract-1" });
    const id = sent.message.id;
    const retry = await messages.SendMessage({ senderId: "123", type: "ROOM_TYPE_DIRECTO", to: "789", content: "Hola, ¿cómo estás?", clientMsgId: "contract-1" });
    expect(retry).toMatchObject({ duplicate: true, message: { id } });

    expect((await messages.GetMessage({ messageId: id })).message.metadata.fields.app.stringValue).toBe("python");
    expect((await messages.BatchGetMessages({ messageIds: [id] })).messages).toHaveLength(1);
    const history = await messages.ListMessages({ roomId: sent.message.roomId });
    expect(history.messages.map((m: { id: string }) => m.id)).toEqual([id]);

    await waitFor(async () => (await delivery.ListPending({ userId: "789" })).messages.length > 0, 5000, "the recipient to be recorded");
    expect((await delivery.ListPending({ userId: "789" })).messages.map((m: { messageId: string }) => m.messageId)).toEqual([id]);
    const marked = await delivery.MarkDelivered({ messageId: id, userId: "789" });
    expect(marked).toMatchObject({ first: true, senderId: "123", receipt: { recipientId: "789" } });
    expect(marked.receipt.deliveredAt).not.toBeNull();
    expect(await statusOf(delivery.MarkDelivered({ messageId: id, userId: "555" }))).toBe(grpc.status.PERMISSION_DENIED);
    expect((await delivery.MarkRead({ messageId: id, userId: "789" })).first).toBe(true);
    const receipts = await delivery.GetReceipts({ messageId: id });
    expect(receipts.receipts).toHaveLength(1);
    expect(receipts.receipts[0].readAt).not.toBeNull();
    expect((await delivery.ListPending({ userId: "789" })).messages).toEqual([]);

    const dispatched = await delivery.Dispatch({ message: sent.message });
    expect(dispatched.recipientIds).toEqual(["789"]);

    expect((await messages.EditMessage({ messageId: id, userId: "123", content: "editado" })).message.content).toBe("editado");
    expect(await statusOf(messages.EditMessage({ messageId: id, userId: "789", content: "x" }))).toBe(grpc.status.PERMISSION_DENIED);
    expect((await messages.DeleteMessage({ messageId: id, userId: "123" })).message.deletedAt).not.toBeNull();

    expect(await statusOf(messages.SendMessage({ senderId: "123", type: "ROOM_TYPE_DIRECTO", to: "789", content: "" }))).toBe(grpc.status.INVALID_ARGUMENT);
    const rows = await withClient(db.url, async (c) => (await c.query("select count(*)::int as n from mensajes")).rows[0].n);
    expect(rows).toBe(1);
  });

  it("serves grpc.health.v1 on every service", async () => {
    for (const server of [core.rooms, core.messages, core.delivery]) {
      const health = stub(loaded.grpc.health.v1.Health, server.url);
      expect((await health.Check({ service: "" })).status).toBe("SERVING");
      health.close();
    }
  });

  it("refuses garbage bytes with a clear error, and keeps serving", async () => {
    const client = new grpc.Client(new URL(core.messages.url).host, grpc.credentials.createInsecure());
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x12]);
    const failure = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.makeUnaryRequest(
        "/redup.messages.v1.MessagesService/GetMessage",
        (b: Buffer) => b,
        (b: Buffer) => b,
        garbage,
        (err) => resolve(err),
      );
    });
    client.close();
    // As in grpc-go and connect-es, an undecodable request body is INTERNAL, with the reason.
    expect(failure?.code).toBe(grpc.status.INTERNAL);
    expect(decodeURIComponent(failure?.details ?? "")).toContain("parse binary");
    expect(await statusOf(messages.GetMessage({ messageId: "999999" }))).toBe(grpc.status.NOT_FOUND);
  });
});
