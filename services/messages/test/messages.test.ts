import { Code } from "@connectrpc/connect";
import { fromBinary } from "@bufbuild/protobuf";
import { onBehalfOf } from "@redup/kit";
import { codeOf, waitFor, withClient } from "@redup/kit/testing";
import { MessageCreatedSchema } from "@redup/proto/redup/events/v1/events_pb";
import { MessageType } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem, type TestSystem } from "./system.js";

let sys: TestSystem;
let nc: NatsConnection;

const query = (sql: string, params: unknown[] = []) => withClient(sys.db.url, async (c) => (await c.query(sql, params)).rows);
const count = async (table: string) => Number((await query(`select count(*) from ${table}`))[0].count);

/** Resolves with the first event on a subject, or rejects after the timeout. */
function nextEvent(subject: string, timeoutMs = 5000) {
  const sub = nc.subscribe(subject, { max: 1, timeout: timeoutMs });
  return (async () => {
    for await (const msg of sub) return fromBinary(MessageCreatedSchema, msg.data);
    throw new Error(`no event on ${subject}`);
  })();
}

const direct = (senderId: bigint, to: bigint, content: string, extra: Record<string, unknown> = {}) =>
  sys.clients.messages.sendMessage({ senderId, to, type: RoomType.DIRECTO, content, messageType: MessageType.TEXTO, ...extra });

beforeAll(async () => {
  sys = await startTestSystem();
  nc = await connect({ servers: sys.natsUrl });
});

afterAll(async () => {
  await nc?.drain();
  await sys?.close();
});

describe("SendMessage", () => {
  it("stores a direct message, answers once it is stored, then records the recipient and publishes it to both users", async () => {
    const toRecipient = nextEvent(`${sys.prefix}.user.789.message`);
    const toSender = nextEvent(`${sys.prefix}.user.123.message`);
    await nc.flush();
    const res = await direct(123n, 789n, "Hola, ¿cómo estás?", { clientTimestamp: "2024-01-15T10:30:00Z", origin: "edge-1/abc" });
    const m = res.message!;
    // The answer comes once the message is committed; the hand-off follows it.
    expect(res.dispatched).toBe(false);
    expect(res.duplicate).toBe(false);
    expect(m).toMatchObject({ senderId: 123n, to: 789n, roomType: RoomType.DIRECTO, content: "Hola, ¿cómo estás?", clientTimestamp: "2024-01-15T10:30:00Z" });
    expect(m.id).toBeGreaterThan(0n);
    expect(m.uuid).toMatch(/^[0-9a-f-]{36}$/);

    const [row] = await query("select * from mensajes where id = $1", [String(m.id)]);
    expect(row).toMatchObject({ remitente_id: "123", tipo_mensaje: "texto", contenido: "Hola, ¿cómo estás?", url_archivo: null, metadatos: {} });
    expect(row.sala_chat_id).toBe(String(m.roomId));
    const [room] = await query("select * from salas_chat where id = $1", [String(m.roomId)]);
    expect(room).toMatchObject({ tipo_sala: "directo", usuario_a_id: "123", usuario_b_id: "789" });

    for (const event of await Promise.all([toRecipient, toSender])) {
      expect(event.message!.id).toBe(m.id);
      expect(event.message!.content).toBe("Hola, ¿cómo estás?");
      expect(event.origin).toBe("edge-1/abc");
      // The room's first message: room_seq 1, nothing before it.
      expect(event.roomSeq).toBe(1n);
      expect(event.previousSentAt).toBeUndefined();
    }
    // The event goes out once delivery has recorded the recipient.
    const recipients = await query("select destinatario_id from destinatarios_mensaje where mensaje_id = $1", [String(m.id)]);
    expect(recipients.map((r) => r.destinatario_id)).toEqual(["789"]);
    // Handed-off entries leave the outbox in batches, shortly after.
    await waitFor(async () => (await query("select * from mensajes_despacho_pendiente where mensaje_id = $1", [String(m.id)])).length === 0, 5000, "the outbox entry to be cleared");

    const replyEvent = nextEvent(`${sys.prefix}.user.123.message`);
    await nc.flush();
    const reply = await direct(789n, 123n, "¡Hola! Todo bien, ¿y tú?");
    expect(reply.message!.roomId).toBe(m.roomId);
    expect(reply.message!.to).toBe(123n);
    const second = await replyEvent;
    expect(second.message!.id).toBe(reply.message!.id);
    expect(second.roomSeq).toBe(2n);
    expect(second.previousSentAt).toBeDefined();
  });

  it("stores an image message with its url", async () => {
    const url = "https://res.cloudinary.com/mycloud/image/upload/v123/clase.jpg";
    const res = await direct(123n, 789n, "Te envío esta foto de la clase", { messageType: MessageType.IMAGEN, urlArchivo: url });
    expect(res.message).toMatchObject({ messageType: MessageType.IMAGEN, urlArchivo: url });
    const [row] = await query("select tipo_mensaje, url_archivo from mensajes where id = $1", [String(res.message!.id)]);
    expect(row).toEqual({ tipo_mensaje: "imagen", url_archivo: url });
  });

  it("sends to a group's members but the sender, and only members may send", async () => {
    for (const userId of [10n, 11n, 12n]) await sys.clients.rooms.joinGroup({ groupId: 456n, userId });
    const event = nextEvent(`${sys.prefix}.group.456.message`);
    await nc.flush();
    const res = await sys.clients.messages.sendMessage({ senderId: 10n, to: 456n, type: RoomType.GRUPAL, content: "Hola a todos!" });
    expect(res.message).toMatchObject({ roomType: RoomType.GRUPAL, to: 456n, messageType: MessageType.TEXTO });
    expect((await event).message!.id).toBe(res.message!.id);
    const recipients = await query("select destinatario_id from destinatarios_mensaje where mensaje_id = $1 order by 1", [String(res.message!.id)]);
    expect(recipients.map((r) => r.destinatario_id)).toEqual(["11", "12"]);

    const before = await count("mensajes");
    expect(await codeOf(sys.clients.messages.sendMessage({ senderId: 99n, to: 456n, type: RoomType.GRUPAL, content: "colado" }))).toBe(Code.PermissionDenied);
    expect(await count("mensajes")).toBe(before);

    // A backend's system notice needs no membership.
    const notice = await sys.clients.messages.sendMessage({ senderId: 1n, to: 456n, type: RoomType.GRUPAL, content: "Grupo creado", messageType: MessageType.SISTEMA });
    expect(notice.message!.messageType).toBe(MessageType.SISTEMA);
  });

  it("publishes a room's concurrent messages in the order they were stored", async () => {
    for (const userId of [20n, 21n, 22n, 23n]) await sys.clients.rooms.joinGroup({ groupId: 777n, userId });
    const ids: bigint[] = [];
    const sub = nc.subscribe(`${sys.prefix}.group.777.message`, {
      callback: (_err, msg) => ids.push(fromBinary(MessageCreatedSchema, msg.data).message!.id),
    });
    await nc.flush();
    const sends = Array.from({ length: 40 }, (_, i) =>
      sys.clients.messages.sendMessage({ senderId: 20n + BigInt(i % 4), to: 777n, type: RoomType.GRUPAL, content: `n${i}` }),
    );
    const stored = (await Promise.all(sends)).map((r) => r.message!.id);
    await nc.flush();
    const deadline = Date.now() + 5000;
    while (ids.length < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    expect(ids).toHaveLength(40);
    expect(ids).toEqual([...stored].sort((a, b) => (a < b ? -1 : 1)));
  });

  it("stores one message for concurrent retries of one client_msg_id", async () => {
    const tries = await Promise.all(Array.from({ length: 16 }, () => direct(200n, 201n, "una vez", { clientMsgId: "cm-1" })));
    const ids = new Set(tries.map((t) => t.message!.id));
    expect(ids.size).toBe(1);
    expect(tries.filter((t) => !t.duplicate)).toHaveLength(1);
    expect(tries.every((t) => t.message!.clientMsgId === "cm-1")).toBe(true);
    expect(await query("select count(*)::int as n from mensajes where remitente_id = 200")).toEqual([{ n: 1 }]);
    expect(await query("select count(*)::int as n from destinatarios_mensaje where destinatario_id = 201")).toEqual([{ n: 1 }]);
    // The key is per sender: another sender may use the same one.
    const other = await direct(202n, 201n, "otro", { clientMsgId: "cm-1" });
    expect(other.duplicate).toBe(false);
    expect(other.message!.id).not.toBe([...ids][0]);
  });

  it("refuses a send that cannot start being stored within its max_wait_ms with ResourceExhausted, and stores nothing", async () => {
    const first = await direct(330n, 331n, "abre la sala");
    const roomId = first.message!.roomId;
    await withClient(sys.db.url, async (lock) => {
      // Another transaction holds the room: the store of the next send waits for it.
      await lock.query("begin");
      await lock.query("select * from salas_secuencia where sala_chat_id = $1 for update", [roomId]);
      const held = direct(330n, 331n, "espera el candado");
      await new Promise((r) => setTimeout(r, 200));
      // Its lane is busy with that store: this one waits behind it, past the 50 ms it has.
      const started = Date.now();
      const late = codeOf(direct(330n, 331n, "llega tarde", { maxWaitMs: 50, clientMsgId: "tarde-1" }));
      await new Promise((r) => setTimeout(r, 300));
      await lock.query("commit");
      expect(await late).toBe(Code.ResourceExhausted);
      expect(Date.now() - started).toBeGreaterThanOrEqual(50);
      expect((await held).message!.content).toBe("espera el candado");
    });
    expect(await query("select contenido from mensajes where sala_chat_id = $1 order by id", [roomId])).toEqual([{ contenido: "abre la sala" }, { contenido: "espera el candado" }]);
    // Refused, not stored: the same key sent again is stored as new.
    const again = await direct(330n, 331n, "llega tarde", { clientMsgId: "tarde-1" });
    expect(again.duplicate).toBe(false);
  });

  it("refuses bad input with InvalidArgument and writes nothing", async () => {
    const before = await count("mensajes");
    const bad: Record<string, unknown>[] = [
      { senderId: 0n, to: 2n, type: RoomType.DIRECTO, content: "x" },
      { senderId: 1n, to: 0n, type: RoomType.DIRECTO, content: "x" },
      { senderId: 1n, to: 2n, type: RoomType.UNSPECIFIED, content: "x" },
      { senderId: 1n, to: 1n, type: RoomType.DIRECTO, content: "x" },
      { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "   " },
      { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "x".repeat(4001) },
      { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "a\u0000b" },
      { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "foto", messageType: MessageType.IMAGEN },
      { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "x", messageType: MessageType.ARCHIVO, urlArchivo: "ftp://x/y" },
      { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "x", messageType: 42 },
      { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "x", clientTimestamp: "ayer" },
      { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "x", clientMsgId: "k".repeat(65) },
      { senderId: 1n, to: 2n, type: RoomType.DIRECTO, content: "x", metadata: { big: "m".repeat(17_000) } },
    ];
    for (const req of bad) {
      expect(await codeOf(sys.clients.messages.sendMessage(req)), JSON.stringify(req, (_k, v) => (typeof v === "bigint" ? String(v) : v)).slice(0, 80)).toBe(Code.InvalidArgument);
    }
    expect(await count("mensajes")).toBe(before);
    // Exactly at the limit, counted in characters (not UTF-16 units), is accepted.
    const atLimit = await direct(1n, 2n, "ñ".repeat(3999) + "😀");
    expect(atLimit.message!.content).toHaveLength(4001);
  });

  it("keeps SQL-looking text verbatim", async () => {
    const text = "'); drop table mensajes; --";
    const res = await direct(5n, 6n, text, { metadata: { note: "' or 1=1 --" } });
    const [row] = await query("select contenido, metadatos from mensajes where id = $1", [String(res.message!.id)]);
    expect(row).toEqual({ contenido: text, metadatos: { note: "' or 1=1 --" } });
  });
});

describe("SendMessages", () => {
  const text = (senderId: bigint, to: bigint, content: string, extra: Record<string, unknown> = {}) =>
    ({ senderId, to, type: RoomType.DIRECTO, content, messageType: MessageType.TEXTO, ...extra });

  it("stores a batch with one result per request, in order; a refused message fails alone", async () => {
    for (const userId of [300n, 301n]) await sys.clients.rooms.joinGroup({ groupId: 3000n, userId });
    // 311 gets two messages, from two rooms: no order between them.
    const toPeer: bigint[] = [];
    const peerSub = nc.subscribe(`${sys.prefix}.user.311.message`, { callback: (_e, msg) => toPeer.push(fromBinary(MessageCreatedSchema, msg.data).message!.id) });
    await nc.flush();
    const before = await count("mensajes");
    const { results } = await sys.clients.messages.sendMessages({
      requests: [
        text(310n, 311n, "uno", { clientMsgId: "lote-1", clientTimestamp: "2024-01-15T10:30:00Z" }),
        text(310n, 311n, "   "),
        { senderId: 300n, to: 3000n, type: RoomType.GRUPAL, content: "al grupo" },
        { senderId: 399n, to: 3000n, type: RoomType.GRUPAL, content: "colado" },
        text(310n, 311n, "uno otra vez", { clientMsgId: "lote-1" }),
        text(312n, 311n, "dos", { metadata: { k: "v" } }),
      ],
    });
    expect(results.map((r) => r.outcome.case)).toEqual(["sent", "error", "sent", "error", "sent", "sent"]);
    const sent = (i: number) => {
      const outcome = results[i]!.outcome;
      if (outcome.case !== "sent") throw new Error(`result ${i} is ${outcome.case}`);
      return outcome.value;
    };
    const error = (i: number) => {
      const outcome = results[i]!.outcome;
      if (outcome.case !== "error") throw new Error(`result ${i} is ${outcome.case}`);
      return outcome.value;
    };
    expect(error(1)).toMatchObject({ code: Code.InvalidArgument, message: "a texto message needs a non-empty message" });
    expect(error(3).code).toBe(Code.PermissionDenied);
    // The retried key inside the same batch answers the original.
    expect(sent(4)).toMatchObject({ duplicate: true, dispatched: false });
    expect(sent(4).message!.id).toBe(sent(0).message!.id);
    expect(sent(4).message!.content).toBe("uno");
    for (const i of [0, 2, 5]) expect(sent(i)).toMatchObject({ duplicate: false, dispatched: false });
    expect(sent(0).message).toMatchObject({ senderId: 310n, to: 311n, content: "uno", clientMsgId: "lote-1", clientTimestamp: "2024-01-15T10:30:00Z" });
    expect(sent(2).message).toMatchObject({ senderId: 300n, to: 3000n, roomType: RoomType.GRUPAL, content: "al grupo" });
    expect(sent(5).message!.to).toBe(311n);
    // Three rooms: each message has its own id (order is kept within a room, not across rooms).
    expect(new Set([0, 2, 5].map((i) => sent(i).message!.id)).size).toBe(3);
    expect(await count("mensajes")).toBe(before + 3);
    const rows = await query(
      "select m.id, m.contenido, m.metadatos, c.client_msg_id from mensajes m left join mensajes_cliente c on c.mensaje_id = m.id where m.id = any($1::bigint[]) order by m.id",
      [[0, 2, 5].map((i) => String(sent(i).message!.id))],
    );
    const byId = (a: { id: string }, b: { id: string }) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1);
    expect(rows).toEqual(
      [
        { id: String(sent(0).message!.id), contenido: "uno", metadatos: {}, client_msg_id: "lote-1" },
        { id: String(sent(2).message!.id), contenido: "al grupo", metadatos: {}, client_msg_id: null },
        { id: String(sent(5).message!.id), contenido: "dos", metadatos: { k: "v" }, client_msg_id: null },
      ].sort(byId),
    );
    await waitFor(() => toPeer.length >= 2, 5000, "both events for 311");
    peerSub.unsubscribe();
    expect(toPeer.sort()).toEqual([sent(0).message!.id, sent(5).message!.id].sort());
    const recipientRows = () =>
      query("select mensaje_id, destinatario_id from destinatarios_mensaje where mensaje_id = any($1::bigint[]) order by 1, 2", [[0, 2, 5].map((i) => String(sent(i).message!.id))]);
    await waitFor(async () => (await recipientRows()).length === 3, 5000, "the recipients to be recorded");
    expect(await recipientRows()).toEqual(
      [
      { mensaje_id: String(sent(0).message!.id), destinatario_id: "311" },
      { mensaje_id: String(sent(2).message!.id), destinatario_id: "301" },
      { mensaje_id: String(sent(5).message!.id), destinatario_id: "311" },
      ].sort((a, b) => (BigInt(a.mensaje_id) < BigInt(b.mensaje_id) ? -1 : 1)),
    );
  });

  it("answers only the stored ids when asked for compact results, and a duplicate whole", async () => {
    const first = await sys.clients.messages.sendMessages({ requests: [text(320n, 321n, "compacto", { clientMsgId: "c-1" })], compactResults: true });
    const again = await sys.clients.messages.sendMessages({ requests: [text(320n, 321n, "compacto", { clientMsgId: "c-1" })], compactResults: true });
    const [a] = first.results;
    const [b] = again.results;
    if (a?.outcome.case !== "sent" || b?.outcome.case !== "sent") throw new Error("both sends must be sent");
    const stored = a.outcome.value.message!;
    expect(stored.id).toBeGreaterThan(0n);
    expect(stored.roomId).toBeGreaterThan(0n);
    expect(stored.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(stored.sentAt).toBeDefined();
    expect(stored).toMatchObject({ roomType: RoomType.DIRECTO, clientMsgId: "c-1", content: "", senderId: 0n, to: 0n });
    expect(b.outcome.value).toMatchObject({ duplicate: true });
    expect(b.outcome.value.message).toMatchObject({ id: stored.id, content: "compacto", senderId: 320n, to: 321n });
  });

  it("sends only as the acting user when the call names one", async () => {
    const { results } = await sys.clients.messages.sendMessages(
      { requests: [text(320n, 321n, "mío"), text(322n, 321n, "ajeno")] },
      onBehalfOf(320n),
    );
    expect(results[0]!.outcome.case).toBe("sent");
    expect(results[1]!.outcome).toMatchObject({ case: "error", value: { code: Code.PermissionDenied } });
    expect(await query("select count(*)::int as n from mensajes where remitente_id = 322")).toEqual([{ n: 0 }]);
  });

  it("refuses an empty or oversized batch as a whole", async () => {
    expect(await codeOf(sys.clients.messages.sendMessages({ requests: [] }))).toBe(Code.InvalidArgument);
    const tooMany = Array.from({ length: 1001 }, (_, i) => text(330n, 331n, `n${i}`));
    const before = await count("mensajes");
    expect(await codeOf(sys.clients.messages.sendMessages({ requests: tooMany }))).toBe(Code.InvalidArgument);
    expect(await count("mensajes")).toBe(before);
  });

  it("gathers concurrent sends into shared statements and keeps every room in stored order, numbered 1, 2, 3…", async () => {
    const events = new Map<bigint, bigint[]>();
    const seqs = new Map<bigint, bigint[]>();
    const sub = nc.subscribe(`${sys.prefix}.user.*.message`, {
      callback: (_err, msg) => {
        const event = fromBinary(MessageCreatedSchema, msg.data);
        const m = event.message!;
        if (m.senderId < 340n || m.senderId >= 350n || !msg.subject.endsWith(`.user.${m.to}.message`)) return;
        events.set(m.roomId, [...(events.get(m.roomId) ?? []), m.id]);
        seqs.set(m.roomId, [...(seqs.get(m.roomId) ?? []), event.roomSeq]);
      },
    });
    await nc.flush();
    const sends = Array.from({ length: 300 }, (_, i) => direct(340n + BigInt(i % 10), 360n + BigInt(i % 3), `c${i}`));
    const stored = (await Promise.all(sends)).map((r) => r.message!);
    expect(stored.every((m) => m.id > 0n)).toBe(true);
    expect(new Set(stored.map((m) => m.id)).size).toBe(300);
    await waitFor(() => [...events.values()].reduce((n, ids) => n + ids.length, 0) >= 300, 10_000, "every event");
    sub.unsubscribe();
    for (const [roomId, ids] of events) {
      const mine = stored.filter((m) => m.roomId === roomId).map((m) => m.id).sort((a, b) => (a < b ? -1 : 1));
      expect(ids).toEqual(mine);
      expect(seqs.get(roomId)).toEqual(mine.map((_, i) => BigInt(i + 1)));
    }
    const metrics = await (await fetch(`http://127.0.0.1:${sys.messages.metricsPort}/metrics`)).text();
    // Some statement stored more than one message.
    const sample = (name: string, ...labels: string[]) =>
      Number(metrics.split("\n").find((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)))?.split(" ")[1]);
    const single = sample("redup_batch_size_bucket", 'kind="store"', 'le="1"');
    const all = sample("redup_batch_size_count", 'kind="store"');
    expect(all).toBeGreaterThan(0);
    expect(single).toBeLessThan(all);
  });
});

describe("calls on behalf of a user", () => {
  it("let a user send, read and mark only as themselves, and read only their rooms", async () => {
    const m = (await direct(600n, 601n, "privado")).message!;
    const before = await count("mensajes");
    expect(await codeOf(sys.clients.messages.sendMessage({ senderId: 600n, to: 601n, type: RoomType.DIRECTO, content: "suplantado" }, onBehalfOf(602n)))).toBe(Code.PermissionDenied);
    expect(await count("mensajes")).toBe(before);
    expect((await sys.clients.messages.listMessages({ roomId: m.roomId }, onBehalfOf(601n))).messages.length).toBeGreaterThan(0);
    expect(await codeOf(sys.clients.messages.listMessages({ roomId: m.roomId }, onBehalfOf(602n)))).toBe(Code.PermissionDenied);
    expect(await codeOf(sys.clients.messages.editMessage({ messageId: m.id, userId: 600n, content: "y" }, onBehalfOf(601n)))).toBe(Code.PermissionDenied);
    expect(await codeOf(sys.clients.delivery.markDelivered({ messageId: m.id, userId: 601n }, onBehalfOf(600n)))).toBe(Code.PermissionDenied);
    expect(await codeOf(sys.clients.delivery.listPending({ userId: 601n }, onBehalfOf(600n)))).toBe(Code.PermissionDenied);
    expect(await codeOf(sys.clients.delivery.getReceipts({ messageId: m.id }, onBehalfOf(601n)))).toBe(Code.PermissionDenied);
    expect((await sys.clients.delivery.getReceipts({ messageId: m.id }, onBehalfOf(600n))).receipts).toHaveLength(1);
    expect((await sys.clients.delivery.markDelivered({ messageId: m.id, userId: 601n }, onBehalfOf(601n))).first).toBe(true);
  });
});

describe("metrics", () => {
  it("serves Prometheus metrics: RPC latency by method and code, pool, batches", async () => {
    await direct(700n, 701n, "métrica");
    await codeOf(sys.clients.messages.getMessage({ messageId: 0n }));
    const scrape = async (port: number | undefined) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const messages = await scrape(sys.messages.metricsPort);
    expect(messages).toMatch(/^redup_rpc_duration_seconds_count\{service="messages",method="SendMessage",code="ok"\} [1-9]\d*$/m);
    expect(messages).toMatch(/^redup_rpc_duration_seconds_count\{service="messages",method="GetMessage",code="InvalidArgument"\} 1$/m);
    expect(messages).toMatch(/^redup_db_pool_connections\{state="total",service="messages"\} [1-9]\d*$/m);
    expect(messages).toContain("redup_batch_size_bucket");
    expect(messages).not.toContain("métrica");
    const delivery = await scrape(sys.delivery.metricsPort);
    expect(delivery).toMatch(/^redup_rpc_duration_seconds_count\{service="delivery",method="DispatchMany",code="ok"\} [1-9]\d*$/m);
    expect(delivery).toMatch(/^redup_nats_publish_errors_total\{service="delivery"\} 0$/m);
    expect(await scrape(sys.rooms.metricsPort)).toMatch(/redup_rpc_duration_seconds_count\{service="rooms",method="ResolveDirectRoom",code="ok"\}/);
  });
});

describe("reading, editing and deleting", () => {
  it("reads one, a batch in order, and history newest first with keyset pages", async () => {
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push((await direct(300n, 301n, `m${i}`)).message!);
    const one = await sys.clients.messages.getMessage({ messageId: sent[2]!.id });
    expect(one.message!.content).toBe("m2");
    expect(await codeOf(sys.clients.messages.getMessage({ messageId: 987_654_321n }))).toBe(Code.NotFound);

    const batch = await sys.clients.messages.batchGetMessages({ messageIds: [sent[4]!.id, 987_654_321n, sent[0]!.id] });
    expect(batch.messages.map((m) => m.content)).toEqual(["m4", "m0"]);

    const page1 = await sys.clients.messages.listMessages({ roomId: sent[0]!.roomId, pageSize: 2 });
    expect(page1.messages.map((m) => m.content)).toEqual(["m4", "m3"]);
    const page2 = await sys.clients.messages.listMessages({ roomId: sent[0]!.roomId, pageSize: 2, beforeId: page1.nextBeforeId });
    expect(page2.messages.map((m) => m.content)).toEqual(["m2", "m1"]);
    const page3 = await sys.clients.messages.listMessages({ roomId: sent[0]!.roomId, pageSize: 2, beforeId: page2.nextBeforeId });
    expect(page3.messages.map((m) => m.content)).toEqual(["m0"]);
    expect(page3.nextBeforeId).toBe(0n);
    expect(await codeOf(sys.clients.messages.listMessages({ roomId: sent[0]!.roomId, pageSize: 201 }))).toBe(Code.InvalidArgument);
  });

  it("lets only the sender edit and delete, softly", async () => {
    const m = (await direct(400n, 401n, "original")).message!;
    expect(await codeOf(sys.clients.messages.editMessage({ messageId: m.id, userId: 401n, content: "hack" }))).toBe(Code.PermissionDenied);
    const edited = await sys.clients.messages.editMessage({ messageId: m.id, userId: 400n, content: "corregido" });
    expect(edited.message!.content).toBe("corregido");
    expect(edited.message!.editedAt).toBeDefined();
    expect(await codeOf(sys.clients.messages.editMessage({ messageId: m.id, userId: 400n, content: "" }))).toBe(Code.InvalidArgument);

    expect(await codeOf(sys.clients.messages.deleteMessage({ messageId: m.id, userId: 401n }))).toBe(Code.PermissionDenied);
    const deleted = await sys.clients.messages.deleteMessage({ messageId: m.id, userId: 400n });
    expect(deleted.message!.deletedAt).toBeDefined();
    expect(deleted.message!.content).toBe("");
    const again = await sys.clients.messages.deleteMessage({ messageId: m.id, userId: 400n });
    expect(again.message!.deletedAt).toEqual(deleted.message!.deletedAt);
    expect(await codeOf(sys.clients.messages.editMessage({ messageId: m.id, userId: 400n, content: "revivir" }))).toBe(Code.FailedPrecondition);
    const [row] = await query("select contenido, editado_en, eliminado_en from mensajes where id = $1", [String(m.id)]);
    expect(row.contenido).toBe("corregido");
    expect(row.editado_en).toBeInstanceOf(Date);
    expect(row.eliminado_en).toBeInstanceOf(Date);
  });
});
