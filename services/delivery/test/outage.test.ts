import { randomBytes } from "node:crypto";
import { create, fromBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { createLogger, createServiceClient, type RunningServer } from "@redup/kit";
import { codeOf, createTestDatabase, freePort, startTcpProxy, startTestNats, type TestDatabase, type TestNats, waitFor, withClient } from "@redup/kit/testing";
import { Health, HealthCheckResponse_ServingStatus as Status } from "@redup/proto/grpc/health/v1/health_pb";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { ReceiptKind, ReceiptUpdatedSchema } from "@redup/proto/redup/events/v1/events_pb";
import { MessageSchema, MessageType, type Message } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomsService, RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { loadConfig as roomsConfig, startRooms } from "@redup/rooms";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, startDelivery } from "../src/index.js";

const logger = createLogger({ service: "delivery-outage-test", level: "silent" });
const sharedNatsUrl = process.env["TEST_NATS_URL"] || "nats://127.0.0.1:4222";
const prefix = `t${randomBytes(4).toString("hex")}`;

let db: TestDatabase;
let rooms: RunningServer;
let nats: TestNats;
let baseEnv: Record<string, string>;

const query = (sql: string, params: unknown[] = []) => withClient(db.url, async (c) => (await c.query(sql, params)).rows);
const recipientsOf = async (messageId: bigint) =>
  (await query("select destinatario_id from destinatarios_mensaje where mensaje_id = $1 order by destinatario_id", [String(messageId)])).map(
    (r) => r.destinatario_id as string,
  );
const dispatchCount = async (messageId: bigint) =>
  Number((await query("select count(*) from despachos_mensaje where mensaje_id = $1", [String(messageId)]))[0].count);

const direct = (id: bigint, senderId: bigint, to: bigint): Message =>
  create(MessageSchema, { id, roomId: 80_000n + id, roomType: RoomType.DIRECTO, senderId, to, messageType: MessageType.TEXTO, content: `m${id}` });

/** Rejects after `ms` so no wait in this file is unbounded. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A real NATS subscriber: records everything on `<prefix>.>`; `settled` returns what was seen
 * once everything published before it arrived.
 */
async function tap(nc: NatsConnection) {
  const fence = `${prefix}_fence.${randomBytes(4).toString("hex")}`;
  const seen: { subject: string; data: Uint8Array }[] = [];
  const fences = new Set<string>();
  let wake: (() => void) | undefined;
  const subs = [
    nc.subscribe(`${prefix}.>`, { callback: (err, msg) => { if (!err) { seen.push({ subject: msg.subject, data: msg.data }); wake?.(); } } }),
    nc.subscribe(fence, { callback: (err, msg) => { if (!err) { fences.add(new TextDecoder().decode(msg.data)); wake?.(); } } }),
  ];
  await within(nc.flush(), 5000, "the subscriptions");
  const until = async (ok: () => boolean, ms: number, what: string) => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  let n = 0;
  return {
    seen,
    async settled() {
      const mark = String(++n);
      nc.publish(fence, new TextEncoder().encode(mark));
      await until(() => fences.has(mark), 5000, "the fence");
      return [...seen];
    },
    close() {
      for (const sub of subs) sub.unsubscribe();
    },
  };
}

beforeAll(async () => {
  db = await createTestDatabase("delivery_outage");
  baseEnv = {
    DATABASE_URL: db.url,
    HOST: "127.0.0.1",
    ROOMS_PORT: "0",
    DELIVERY_PORT: "0",
    NATS_SUBJECT_PREFIX: prefix,
    RPC_TIMEOUT_MS: "3000",
  };
  rooms = await startRooms(roomsConfig(baseEnv), logger);
  nats = await startTestNats();
});

afterAll(async () => {
  await rooms?.close();
  await nats?.stop();
  await db?.drop();
});

async function startWith(env: Record<string, string>) {
  const server = await startDelivery(loadConfig({ ...baseEnv, ROOMS_URL: rooms.url, ...env }), logger);
  const client = createServiceClient(DeliveryService, { baseUrl: server.url, timeoutMs: 10_000, retries: 0 });
  const health = createServiceClient(Health, { baseUrl: server.url, timeoutMs: 10_000 });
  const status = async () => (await health.check({})).status;
  return { server, client, status };
}

describe("NATS outage", () => {
  it("keeps recording and stays SERVING; receipts are stored meanwhile and announced again once NATS is back", async () => {
    const { server, client, status } = await startWith({ NATS_URL: nats.url });
    let nc: NatsConnection | undefined;
    try {
      await waitFor(async () => (await status()) === Status.SERVING, 10_000, "SERVING with NATS up");
      await client.dispatch({ message: direct(8001n, 801n, 802n) });

      await nats.stop();
      // Recording needs only the database: the message stays pending for its recipient.
      expect((await client.dispatch({ message: direct(8002n, 801n, 802n) })).recipientIds).toEqual([802n]);
      expect(await recipientsOf(8002n)).toEqual(["802"]);
      expect(await dispatchCount(8002n)).toBe(1);
      expect((await client.listPending({ userId: 802n })).messages.map((m) => m.messageId)).toEqual([8001n, 8002n]);
      expect(await status()).toBe(Status.SERVING);
      // Receipts are best effort: the state is stored even though the sender cannot be told now.
      const delivered = await client.markDelivered({ messageId: 8001n, userId: 802n });
      expect(delivered.first).toBe(true);
      expect((await query("select entregado_en from destinatarios_mensaje where mensaje_id = 8001"))[0].entregado_en).toBeInstanceOf(Date);

      await nats.start();
      nc = await connect({ servers: nats.url, reconnect: false });
      const after = await tap(nc);
      // The service's NATS connection comes back by itself; then a new receipt reaches the sender
      // (each attempt confirms a new message: only a first confirmation is announced).
      let next = 8100n;
      await waitFor(
        async () => {
          const id = next++;
          await client.dispatch({ message: direct(id, 801n, 802n) });
          await client.markRead({ messageId: id, userId: 802n });
          await after.settled();
          return after.seen.some((s) => s.subject === `${prefix}.user.801.receipt` && fromBinary(ReceiptUpdatedSchema, s.data).messageId === id);
        },
        20_000,
        "a receipt once NATS is back",
      );
      const receipt = fromBinary(ReceiptUpdatedSchema, after.seen.find((s) => s.subject === `${prefix}.user.801.receipt`)!.data);
      expect(receipt).toMatchObject({ recipientId: 802n, kind: ReceiptKind.READ });
    } finally {
      await nc?.close();
      await server.close();
    }
  });
});

describe("database outage", () => {
  it("answers Unavailable while PostgreSQL is unreachable, announces nothing, and recovers by itself", async () => {
    const proxy = await startTcpProxy(Number(new URL(db.url).port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const { server, client, status } = await startWith({ DATABASE_URL: viaProxy.toString(), NATS_URL: sharedNatsUrl });
    const nc = await connect({ servers: sharedNatsUrl });
    const t = await tap(nc);
    try {
      await waitFor(async () => (await status()) === Status.SERVING, 10_000, "SERVING before the outage");
      await client.dispatch({ message: direct(9001n, 901n, 902n) });
      expect((await client.listPending({ userId: 902n })).messages.map((m) => m.messageId)).toEqual([9001n]);

      await proxy.cut();
      // The health check first: by the time it answers, the pool has dropped its cut idle
      // connections (a transaction started on one before that is the bug in the skipped test below).
      await waitFor(async () => (await status()) === Status.NOT_SERVING, 10_000, "NOT_SERVING with the database down");
      expect(await codeOf(client.listPending({ userId: 902n }))).toBe(Code.Unavailable);
      expect(await codeOf(client.dispatch({ message: direct(9002n, 901n, 902n) }))).toBe(Code.Unavailable);
      expect(await codeOf(client.markDelivered({ messageId: 9001n, userId: 902n }))).toBe(Code.Unavailable);
      expect(await codeOf(client.getReceipts({ messageId: 9001n }))).toBe(Code.Unavailable);
      // Nothing was recorded for 9002 and no receipt was set, so nothing was announced.
      expect(await t.settled()).toEqual([]);
      expect(await recipientsOf(9002n)).toEqual([]);

      await proxy.restore();
      expect((await client.dispatch({ message: direct(9002n, 901n, 902n) })).recipientIds).toEqual([902n]);
      expect((await client.listPending({ userId: 902n })).messages.map((m) => m.messageId)).toEqual([9001n, 9002n]);
      expect(await recipientsOf(9002n)).toEqual(["902"]);
      expect(await status()).toBe(Status.SERVING);
    } finally {
      t.close();
      await nc.drain();
      await within(server.close(), 15_000, "the server to close");
      await proxy.close();
    }
  });

  // A Dispatch whose transaction starts on a pooled connection the cut has just killed: BEGIN
  // fails, and the kit's transaction helper must still hand the connection back (destroyed),
  // with no uncaught "Connection terminated unexpectedly", so the pool recovers and closes.
  it("survives a connection cut under a starting transaction: Unavailable, no leak, closes", async () => {
    const proxy = await startTcpProxy(Number(new URL(db.url).port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const { server, client, status } = await startWith({ DATABASE_URL: viaProxy.toString(), NATS_URL: sharedNatsUrl });
    try {
      await waitFor(async () => (await status()) === Status.SERVING, 10_000, "SERVING before the outage");
      await client.dispatch({ message: direct(9201n, 921n, 922n) }); // leaves an idle pooled connection
      await proxy.cut();
      expect(await codeOf(client.dispatch({ message: direct(9202n, 921n, 922n) }))).toBe(Code.Unavailable);
      await proxy.restore();
      await waitFor(async () => (await client.dispatch({ message: direct(9202n, 921n, 922n) })).recipientIds.length === 1, 10_000, "recovery");
    } finally {
      await within(server.close(), 15_000, "the server to close (pool.end waits for every client)");
      await proxy.close();
    }
  });
});

describe("rooms outage", () => {
  it("answers Unavailable for a group message without writing, while direct messages still work", async () => {
    const port = await freePort(); // nobody listens there
    const server = await startDelivery(
      loadConfig({ ...baseEnv, ROOMS_URL: `http://127.0.0.1:${port}`, NATS_URL: sharedNatsUrl }),
      logger,
    );
    try {
      const client = createServiceClient(DeliveryService, { baseUrl: server.url, timeoutMs: 10_000, retries: 0 });
      const health = createServiceClient(Health, { baseUrl: server.url });
      await waitFor(async () => (await health.check({})).status === Status.SERVING, 10_000, "SERVING");
      const roomsClient = createServiceClient(RoomsService, { baseUrl: rooms.url });
      const { room } = await roomsClient.joinGroup({ groupId: 9100n, userId: 911n });
      await roomsClient.joinGroup({ groupId: 9100n, userId: 912n });
      const groupMessage = create(MessageSchema, { id: 9101n, roomId: room!.id, roomType: RoomType.GRUPAL, senderId: 911n, to: 9100n, content: "g" });
      expect(await codeOf(client.dispatch({ message: groupMessage }))).toBe(Code.Unavailable);
      expect(await dispatchCount(9101n)).toBe(0);
      expect(await recipientsOf(9101n)).toEqual([]);
      expect((await client.dispatch({ message: direct(9102n, 911n, 912n) })).recipientIds).toEqual([912n]);
    } finally {
      await server.close();
    }
  });
});
