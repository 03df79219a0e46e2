/**
 * Server reflection on every service, seen by two independent reflection clients:
 * grpc-js-reflection-client (Node, @grpc/grpc-js, protobufjs) and `buf curl` (Go), each over
 * grpc.reflection.v1 and v1alpha. Each lists the services, describes every one of them
 * (methods as the .proto files declare them), fetches files by name and by symbol with their
 * imports, and then calls RPCs through a client built only from what reflection returned.
 */
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { coreTestEnv, createTestDatabase, type TestDatabase } from "@redup/kit/testing";
import { startCoreServices, type CoreServices } from "@redup/system";
import { GrpcReflection } from "grpc-js-reflection-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PROTO_ROOT = fileURLToPath(new URL("../../proto", import.meta.url));
const BUF = createRequire(import.meta.url).resolve("@bufbuild/buf/bin/buf");
const VERSIONS = ["v1", "v1alpha"] as const;
const SHARED = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

/** The methods of every service, read from the .proto files (not from any server). */
const declared = (() => {
  const files = ["redup/rooms/v1/rooms.proto", "redup/messages/v1/messages.proto", "redup/delivery/v1/delivery.proto", "grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"];
  const definition = protoLoader.loadSync(files, { includeDirs: [PROTO_ROOT] });
  const methods = new Map<string, string[]>();
  for (const [path, def] of Object.entries(definition)) {
    if (!("format" in def) && Object.values(def).every((m) => typeof m === "object" && m !== null && "path" in m)) {
      methods.set(path, Object.keys(def).sort());
    }
  }
  return methods;
})();

interface Target {
  name: string;
  service: string;
  file: string;
  url: () => string;
}

let db: TestDatabase;
let core: CoreServices;
const TARGETS: Target[] = [
  { name: "rooms", service: "redup.rooms.v1.RoomsService", file: "redup/rooms/v1/rooms.proto", url: () => core.rooms.url },
  { name: "messages", service: "redup.messages.v1.MessagesService", file: "redup/messages/v1/messages.proto", url: () => core.messages.url },
  { name: "delivery", service: "redup.delivery.v1.DeliveryService", file: "redup/delivery/v1/delivery.proto", url: () => core.delivery.url },
];

beforeAll(async () => {
  db = await createTestDatabase("reflection");
  core = await startCoreServices(coreTestEnv(db.url), { logLevel: "silent" });
});

afterAll(async () => {
  await core?.close();
  await db?.drop();
});

type Callback = (err: grpc.ServiceError | null, res: Record<string, any>) => void;

/** Calls a unary method on a client whose class came from reflection. */
function unary(client: grpc.Client, method: string, req: object): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (req: object, options: grpc.CallOptions, cb: Callback) => void>)[method];
    if (typeof fn !== "function") return reject(new Error(`reflection gave no method ${method}`));
    fn.call(client, req, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** The grpc-js client class of a service, from the descriptors reflection returned for it. */
async function reflectedClient(reflection: GrpcReflection, host: string, service: string): Promise<grpc.Client> {
  const descriptor = await reflection.getDescriptorBySymbol(service);
  let node: any = descriptor.getPackageObject({ longs: String, enums: String, defaults: true, oneofs: true });
  for (const part of service.split(".")) node = node?.[part];
  expect(typeof node, `reflection describes ${service}`).toBe("function");
  return new (node as grpc.ServiceClientConstructor)(host, grpc.credentials.createInsecure());
}

describe("grpc-js-reflection-client", () => {
  for (const version of VERSIONS) {
    describe(`over grpc.reflection.${version}`, () => {
      for (const target of TARGETS) {
        it(`lists and describes every service of ${target.name}, by file and by symbol`, async () => {
          const host = new URL(target.url()).host;
          const reflection = new GrpcReflection(host, grpc.credentials.createInsecure(), {}, version);
          const services = (await reflection.listServices()).sort();
          expect(services).toEqual([target.service, ...SHARED].sort());
          for (const service of services) {
            const methods = (await reflection.listMethods(service)).map((m) => m.name).sort();
            expect(methods, `${service}'s methods`).toEqual(declared.get(service));
          }
          // A file by its name comes with the files it imports (google/protobuf/*, rooms.proto…).
          const byFile = await reflection.getDescriptorByFileName(target.file);
          const root = byFile.getProtobufJsRoot();
          expect(root.lookupService(target.service).name).toBe(target.service.split(".").pop());
          expect(await reflection.getDescriptorByFileName("no/such/file.proto").catch((e: Error) => String(e.message ?? e))).toMatch(/not known/);
          expect(await reflection.getDescriptorBySymbol("redup.nothing.v1.Nothing").catch((e: Error) => String(e.message ?? e))).toMatch(/not known/);
          // Symbols below the top level: a method and a message.
          const byMethod = await reflection.getDescriptorBySymbol(`${target.service}.${declared.get(target.service)![0]}`);
          expect(byMethod.getProtobufJsRoot().lookupService(target.service)).toBeTruthy();
        });
      }

      it("calls RPCs of every service through clients built only from reflection", async () => {
        const connect = async (target: Target, service = target.service) => {
          const host = new URL(target.url()).host;
          return reflectedClient(new GrpcReflection(host, grpc.credentials.createInsecure(), {}, version), host, service);
        };
        const [rooms, messages, delivery] = await Promise.all(TARGETS.map((t) => connect(t)));
        const users = { a: `${version === "v1" ? 1 : 2}123`, b: `${version === "v1" ? 1 : 2}789` };
        try {
          // Reflection gives the .proto's own field names (snake_case), as grpcurl shows them.
          const room = await unary(rooms!, "ResolveDirectRoom", { user_id: users.a, peer_id: users.b });
          expect(room.room).toMatchObject({ type: "ROOM_TYPE_DIRECTO" });
          // Timestamp comes from google/protobuf/timestamp.proto, which reflection sent as an
          // import. (Struct, a map, is left to buf curl below: this client's protobufjs 8 → 7
          // descriptor round trip loses map entries, whatever the server sends.)
          const sent = await unary(messages!, "SendMessage", { sender_id: users.a, type: "ROOM_TYPE_DIRECTO", to: users.b, content: "Hola desde la reflexión" });
          expect(sent.message).toMatchObject({ sender_id: users.a, to: users.b, room_id: room.room.id, content: "Hola desde la reflexión" });
          expect(sent.message.sent_at.seconds).toMatch(/^\d+$/);
          expect((await unary(messages!, "GetMessage", { message_id: sent.message.id })).message).toMatchObject({ id: sent.message.id, content: "Hola desde la reflexión" });
          const pending = await unary(delivery!, "ListPending", { user_id: users.b });
          expect(pending.messages.map((m: { message_id: string }) => m.message_id)).toEqual([sent.message.id]);
          for (const target of TARGETS) {
            const health = await connect(target, "grpc.health.v1.Health");
            expect((await unary(health, "Check", { service: target.service })).status).toBe("SERVING");
            health.close();
          }
        } finally {
          for (const c of [rooms, messages, delivery]) c?.close();
        }
      });
    });
  }
});

function buf(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(BUF, ["curl", ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

describe("buf curl (Go), with no schema but what reflection returns", () => {
  for (const version of VERSIONS) {
    const protocol = `grpc-${version}`;
    it(`lists services and methods and calls an RPC of every service (${protocol})`, async () => {
      for (const target of TARGETS) {
        const services = await buf(["--reflect-protocol", protocol, "--list-services", target.url()]);
        expect(services.code, services.err).toBe(0);
        expect(services.out.trim().split("\n").sort()).toEqual([target.service, ...SHARED].sort());
        const methods = await buf(["--reflect-protocol", protocol, "--list-methods", target.url()]);
        expect(methods.code, methods.err).toBe(0);
        const expected = [target.service, ...SHARED].flatMap((s) => declared.get(s)!.map((m) => `${s}/${m}`));
        expect(methods.out.trim().split("\n").sort()).toEqual(expected.sort());
      }
      const a = version === "v1" ? "3123" : "4123";
      const call = (target: Target, method: string, data: object) =>
        buf(["--reflect-protocol", protocol, "--protocol", "grpc", "--http2-prior-knowledge", "--data", JSON.stringify(data), `${target.url()}/${target.service}/${method}`]);
      const room = await call(TARGETS[0]!, "ResolveDirectRoom", { userId: a, peerId: "789" });
      expect(room.code, room.err).toBe(0);
      expect(JSON.parse(room.out).room).toMatchObject({ type: "ROOM_TYPE_DIRECTO" });
      const sent = await call(TARGETS[1]!, "SendMessage", { senderId: a, type: "ROOM_TYPE_DIRECTO", to: "789", content: "Hola", metadata: { app: "buf" } });
      expect(sent.code, sent.err).toBe(0);
      const message = JSON.parse(sent.out).message;
      expect(message).toMatchObject({ senderId: a, content: "Hola", metadata: { app: "buf" } });
      const receipts = await call(TARGETS[2]!, "GetReceipts", { messageId: message.id });
      expect(receipts.code, receipts.err).toBe(0);
      expect(JSON.parse(receipts.out).receipts).toEqual([expect.objectContaining({ recipientId: "789" })]);
      // Struct (a map) and Timestamp, both from files reflection sent as imports.
      expect(message.sentAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      // A refusal comes back as the gRPC status, through the same reflected schema.
      const refused = await call(TARGETS[0]!, "GetRoom", { roomId: "424242" });
      expect(refused.code).not.toBe(0);
      expect(JSON.parse(refused.err)).toMatchObject({ code: "not_found" });
    });
  }
});
