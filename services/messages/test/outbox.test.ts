import { Code } from "@connectrpc/connect";
import { fromBinary } from "@bufbuild/protobuf";
import { loadConfig as deliveryConfig, startDelivery } from "@redup/delivery";
import { codeOf, freePort, waitFor, withClient } from "@redup/kit/testing";
import { MessageCreatedSchema } from "@redup/proto/redup/events/v1/events_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { createServiceClient } from "@redup/kit";
import { MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import { connect } from "nats";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, startMessages } from "../src/index.js";
import { logger, startTestSystem, type TestSystem } from "./system.js";

let sys: TestSystem;
let deliveryPort: number;

beforeAll(async () => {
  deliveryPort = await freePort();
  // messages points at a delivery address where nothing listens yet.
  sys = await startTestSystem({ DELIVERY_URL: `http://127.0.0.1:${deliveryPort}` });
});

afterAll(async () => {
  await sys?.close();
});

const query = (sql: string, params: unknown[] = []) => withClient(sys.db.url, async (c) => (await c.query(sql, params)).rows);

describe("when delivery is down", () => {
  it("stores and answers, publishes live anyway, and records the recipient once delivery is back", async () => {
    const nc = await connect({ servers: sys.natsUrl });
    const events: bigint[] = [];
    const sub = nc.subscribe(`${sys.prefix}.user.2.message`, { callback: (_e, msg) => events.push(fromBinary(MessageCreatedSchema, msg.data).message!.id) });
    await nc.flush();
    try {
      const res = await sys.clients.messages.sendMessage({ senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "guardado" });
      const id = res.message!.id;
      expect(await query("select count(*)::int as n from mensajes where id = $1", [String(id)])).toEqual([{ n: 1 }]);
      // Recipients online still get it live, though delivery could not record them.
      await waitFor(() => events.includes(id), 5000, "the live event");
      expect(await query("select mensaje_id from mensajes_despacho_pendiente")).toEqual([{ mensaje_id: String(id) }]);
      expect(await query("select * from destinatarios_mensaje")).toEqual([]);

      const delivery = await startDelivery(deliveryConfig({ ...sys.env, DELIVERY_PORT: String(deliveryPort) }), logger);
      try {
        await waitFor(async () => (await query("select count(*)::int as n from mensajes_despacho_pendiente"))[0].n === 0, 10_000, "outbox drained");
        expect(await query("select destinatario_id from destinatarios_mensaje where mensaje_id = $1", [String(id)])).toEqual([{ destinatario_id: "2" }]);
      } finally {
        await delivery.close();
      }
    } finally {
      sub.unsubscribe();
      await nc.drain();
    }
  });
});

describe("after an outage", () => {
  it("publishes a room in stored order with consecutive room_seq, and retries the hand-off from the outbox", async () => {
    const port = await freePort();
    const messages = await startMessages(loadConfig({ ...sys.env, DELIVERY_URL: `http://127.0.0.1:${port}` }), logger);
    const client = createServiceClient(MessagesService, { baseUrl: messages.url });
    const nc = await connect({ servers: sys.natsUrl });
    const events: { id: bigint; seq: bigint }[] = [];
    const sub = nc.subscribe(`${sys.prefix}.user.71.message`, {
      callback: (_e, msg) => {
        const event = fromBinary(MessageCreatedSchema, msg.data);
        events.push({ id: event.message!.id, seq: event.roomSeq });
      },
    });
    await nc.flush();
    try {
      const first = await client.sendMessage({ senderId: 70n, to: 71n, type: RoomType.DIRECTO, content: "primero" });
      const second = await client.sendMessage({ senderId: 70n, to: 71n, type: RoomType.DIRECTO, content: "segundo" });
      const ids = [first.message!.id, second.message!.id];
      await waitFor(() => events.length >= 2, 5000, "both events");
      expect(events.slice(0, 2)).toEqual([
        { id: ids[0], seq: 1n },
        { id: ids[1], seq: 2n },
      ]);
      const delivery = await startDelivery(deliveryConfig({ ...sys.env, DELIVERY_PORT: String(port) }), logger);
      try {
        const waiting = () => query("select count(*)::int as n from mensajes_despacho_pendiente where mensaje_id in ($1, $2)", ids.map(String));
        await waitFor(async () => (await waiting())[0].n === 0, 20_000, "both entries handed off");
        expect(await query("select mensaje_id from destinatarios_mensaje where mensaje_id in ($1, $2) order by 1", ids.map(String))).toEqual(ids.map((id) => ({ mensaje_id: String(id) })));
        // A retried hand-off publishes again, with the message's own room_seq.
        for (const event of events) expect(event.seq).toBe(event.id === ids[0] ? 1n : 2n);
      } finally {
        await delivery.close();
      }
    } finally {
      sub.unsubscribe();
      await nc.drain();
      await messages.close();
    }
  });
});

describe("when rooms is down", () => {
  it("answers Unavailable and stores nothing", async () => {
    const deadRooms = await freePort();
    const messages = await startMessages(loadConfig({ ...sys.env, ROOMS_URL: `http://127.0.0.1:${deadRooms}`, RPC_TIMEOUT_MS: "2000" }), logger);
    try {
      const client = createServiceClient(MessagesService, { baseUrl: messages.url });
      const before = await query("select count(*)::int as n from mensajes");
      expect(await codeOf(client.sendMessage({ senderId: 50n, to: 51n, type: RoomType.DIRECTO, content: "nadie" }))).toBe(Code.Unavailable);
      expect(await query("select count(*)::int as n from mensajes")).toEqual(before);
    } finally {
      await messages.close();
    }
  });
});

describe("under overload", () => {
  it("refuses sends past a lane's queue at once with ResourceExhausted, stores nothing for them, and takes sends again after", async () => {
    const messages = await startMessages(loadConfig({ ...sys.env, STORE_LANES: "1", STORE_QUEUE_MAX: "2" }), logger);
    const client = createServiceClient(MessagesService, { baseUrl: messages.url, retries: 0 });
    const send = (content: string) => client.sendMessage({ senderId: 80n, to: 81n, type: RoomType.DIRECTO, content });
    const first = await send("abre la sala");
    const roomId = first.message!.roomId;
    // Hold the room's row: the next store of this room waits on it, and so does its lane.
    const holder = new pg.Client({ connectionString: sys.db.url });
    await holder.connect();
    try {
      await holder.query("begin");
      await holder.query("select * from salas_secuencia where sala_chat_id = $1 for update", [String(roomId)]);
      const blocked = send("bloqueado");
      await waitFor(async () => (await query("select count(*)::int as n from pg_locks where not granted"))[0].n > 0, 5000, "the store to wait on the lock");
      // The lane is busy: two sends may wait, the rest are refused without waiting.
      const queued = [send("en cola 1"), send("en cola 2")];
      const started = Date.now();
      const refused = await Promise.all([send("de más 1"), send("de más 2")].map((p) => codeOf(p)));
      expect(refused).toEqual([Code.ResourceExhausted, Code.ResourceExhausted]);
      expect(Date.now() - started).toBeLessThan(2000);
      await holder.query("commit");
      const stored = await Promise.all([blocked, ...queued]);
      expect(stored.map((r) => r.message!.content)).toEqual(["bloqueado", "en cola 1", "en cola 2"]);
      expect(await query("select contenido from mensajes where sala_chat_id = $1 order by id", [String(roomId)])).toEqual(
        ["abre la sala", "bloqueado", "en cola 1", "en cola 2"].map((contenido) => ({ contenido })),
      );
      // The queue drained: a send is taken again.
      expect((await send("de nuevo")).message!.content).toBe("de nuevo");
      const metrics = await (await fetch(`http://127.0.0.1:${messages.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^redup_shed_total\{[^}]*queue="store"[^}]*\} 2$/m);
    } finally {
      await holder.end();
      await messages.close();
    }
  });
});
