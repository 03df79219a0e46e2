import { randomBytes } from "node:crypto";
import { create, fromBinary } from "@bufbuild/protobuf";
import { createLogger, createServiceClient, type RunningServer } from "@redup/kit";
import { createTestDatabase, type TestDatabase, waitFor, withClient } from "@redup/kit/testing";
import { Health, HealthCheckResponse_ServingStatus } from "@redup/proto/grpc/health/v1/health_pb";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { PresenceChangedSchema, ReadMarkerMovedSchema, ReceiptUpdatedSchema } from "@redup/proto/redup/events/v1/events_pb";
import { MessageSchema, MessageType, type Message } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomsService, RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { loadConfig as roomsConfig, startRooms } from "@redup/rooms";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll } from "vitest";
import { loadConfig, startDelivery } from "../src/index.js";

/**
 * The delivery test stack: a fresh database, real rooms and delivery servers, clients, and a
 * real NATS subscriber (tap) on this stack's subject prefix. `useDeliveryStack()` registers
 * the start and stop hooks of a test file and returns the stack, filled once started.
 */
const logger = createLogger({ service: "delivery-test", level: "silent" });
const natsUrl = process.env["TEST_NATS_URL"] || "nats://127.0.0.1:4222";
const prefix = `t${randomBytes(4).toString("hex")}`;

export { prefix };

let db: TestDatabase;
let rooms: RunningServer;
let delivery: RunningServer;
let deliveryEnv: Record<string, string>;
let nc: NatsConnection;
let client: ReturnType<typeof createServiceClient<typeof DeliveryService>>;
let roomsClient: ReturnType<typeof createServiceClient<typeof RoomsService>>;
let health: ReturnType<typeof createServiceClient<typeof Health>>;

export const query = (sql: string, params: unknown[] = []) => withClient(db.url, async (c) => (await c.query(sql, params)).rows);
export const recipientsOf = async (messageId: bigint) =>
  (await query("select destinatario_id from destinatarios_mensaje where mensaje_id = $1 order by destinatario_id", [String(messageId)])).map(
    (r) => r.destinatario_id as string,
  );
export const recipientRow = async (messageId: bigint, userId: bigint) =>
  (await query("select * from destinatarios_mensaje where mensaje_id = $1 and destinatario_id = $2", [String(messageId), String(userId)]))[0];
export const dispatchRows = (messageId: bigint) => query("select * from despachos_mensaje where mensaje_id = $1", [String(messageId)]);
/** Everything delivery stores, to prove a refused call wrote nothing. */
export const snapshot = async () => ({
  recipients: await query("select * from destinatarios_mensaje order by mensaje_id, destinatario_id"),
  dispatches: await query("select * from despachos_mensaje order by mensaje_id"),
  markers: await query("select * from marcadores_lectura order by usuario_id, sala_chat_id"),
});

export const direct = (id: bigint, senderId: bigint, to: bigint, roomId = 70_000n + id): Message =>
  create(MessageSchema, {
    id,
    uuid: `00000000-0000-4000-8000-${String(id).padStart(12, "0")}`,
    roomId,
    roomType: RoomType.DIRECTO,
    senderId,
    to,
    messageType: MessageType.TEXTO,
    content: `direct ${id}`,
  });

export const group = (id: bigint, senderId: bigint, groupId: bigint, roomId: bigint): Message =>
  create(MessageSchema, { id, roomId, roomType: RoomType.GRUPAL, senderId, to: groupId, messageType: MessageType.TEXTO, content: `group ${id}` });

interface Seen {
  /** The subscription's subject (possibly a wildcard). */
  on: string;
  subject: string;
  data: Uint8Array;
}

/**
 * A real NATS subscriber on `<prefix>.>` (everything this file's delivery publishes) and on
 * the given subjects. `next` waits (bounded) for an event; `settled` returns everything seen
 * once the broker has delivered all that was published before the call (a fence message
 * published after it on the same server is received last).
 */
export async function tap(subjects: string[]) {
  const all = `${prefix}.>`;
  const fence = `${prefix}_fence.${randomBytes(4).toString("hex")}`;
  const seen: Seen[] = [];
  const listeners = new Set<() => void>();
  const subs = [all, fence, ...subjects].map((on) =>
    nc.subscribe(on, {
      callback: (err, msg) => {
        if (err) return;
        seen.push({ on, subject: msg.subject, data: msg.data });
        for (const listener of [...listeners]) listener();
      },
    }),
  );
  await nc.flush();

  const until = <T>(find: () => T | undefined, timeoutMs: number, what: string) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      function check() {
        const found = find();
        if (found === undefined) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve(found);
      }
      listeners.add(check);
      check();
    });

  let fences = 0;
  return {
    /** The first event received on the subscription to `subject` matching `match`. */
    next(subject: string, match: (data: Uint8Array) => boolean = () => true, timeoutMs = 5000) {
      if (!subjects.includes(subject)) throw new Error(`not subscribed to ${subject}`);
      return until(() => seen.find((s) => s.on === subject && match(s.data))?.data, timeoutMs, `an event on ${subject}`);
    },
    /** Every event seen on `<prefix>.>` so far, after everything published before this call arrived. */
    async settled(): Promise<Seen[]> {
      const mark = String(++fences);
      nc.publish(fence, new TextEncoder().encode(mark));
      await until(() => seen.find((s) => s.on === fence && new TextDecoder().decode(s.data) === mark), 5000, "the fence");
      return seen.filter((s) => s.on === all);
    },
    close() {
      for (const sub of subs) sub.unsubscribe();
    },
  };
}

export const receipt = (data: Uint8Array) => fromBinary(ReceiptUpdatedSchema, data);
export const readMarker = (data: Uint8Array) => fromBinary(ReadMarkerMovedSchema, data);
export const presence = (data: Uint8Array) => fromBinary(PresenceChangedSchema, data);
export const ms = (value: Date | null | undefined) => (value ? value.getTime() : undefined);

/** The running stack of the current test file (valid inside tests). */
export const stack = {
  get client() {
    return client;
  },
  get rooms() {
    return roomsClient;
  },
  get health() {
    return health;
  },
  get nc() {
    return nc;
  },
  get delivery() {
    return delivery;
  },
  get dbUrl() {
    return db.url;
  },
  /** Another delivery server on the same database and bus (a replica, or the service restarted). */
  async startReplica() {
    const server = await startDelivery(loadConfig(deliveryEnv), logger);
    return { server, client: createServiceClient(DeliveryService, { baseUrl: server.url, timeoutMs: 10_000, retries: 0 }) };
  },
};

export function useDeliveryStack(): typeof stack {
  beforeAll(async () => {
    db = await createTestDatabase("delivery");
    const env = {
      DATABASE_URL: db.url,
      HOST: "127.0.0.1",
      ROOMS_PORT: "0",
      DELIVERY_PORT: "0",
      NATS_URL: natsUrl,
      NATS_SUBJECT_PREFIX: prefix,
    };
    rooms = await startRooms(roomsConfig(env), logger);
    // Edges here are test calls: one silent for 1.5 s is dead.
    deliveryEnv = { ...env, ROOMS_URL: rooms.url, PRESENCE_EDGE_TIMEOUT_MS: "1500" };
    delivery = await startDelivery(loadConfig(deliveryEnv), logger);
    client = createServiceClient(DeliveryService, { baseUrl: delivery.url, timeoutMs: 10_000, retries: 0 });
    roomsClient = createServiceClient(RoomsService, { baseUrl: rooms.url, timeoutMs: 5000 });
    health = createServiceClient(Health, { baseUrl: delivery.url });
    nc = await connect({ servers: natsUrl });
    // The bus connects in the background: wait until the service says it can publish.
    await waitFor(
      async () => (await health.check({})).status === HealthCheckResponse_ServingStatus.SERVING,
      10_000,
      "delivery to be SERVING",
    );
  });

  afterAll(async () => {
    await nc?.drain();
    await delivery?.close();
    await rooms?.close();
    await db?.drop();
  });
  return stack;
}
