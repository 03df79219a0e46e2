/**
 * The services on an existing upred_db: the guide's tables and enum types already exist,
 * with foreign keys to `usuarios` and `grupos`. Migrations must keep them as they are, and
 * every service must work on top of them.
 */
import { Code } from "@connectrpc/connect";
import { createServiceClient } from "@redup/kit";
import { codeOf, coreTestEnv, createTestDatabase, type TestDatabase, waitFor, withClient } from "@redup/kit/testing";
import { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import { MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomsService, RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { startCoreServices, type CoreServices } from "@redup/system";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const GUIDE_DDL = `
  CREATE TABLE usuarios (id BIGSERIAL PRIMARY KEY, nombre TEXT NOT NULL);
  CREATE TABLE grupos (id BIGSERIAL PRIMARY KEY, nombre TEXT NOT NULL);
  CREATE TYPE tipo_sala_chat_enum AS ENUM ('directo', 'grupal');
  CREATE TYPE tipo_mensaje_enum AS ENUM ('texto', 'imagen', 'archivo', 'audio', 'sistema');
  CREATE TABLE salas_chat (
    id BIGSERIAL PRIMARY KEY,
    sala_uuid UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    tipo_sala tipo_sala_chat_enum NOT NULL,
    usuario_a_id BIGINT REFERENCES usuarios(id),
    usuario_b_id BIGINT REFERENCES usuarios(id),
    grupo_id BIGINT REFERENCES grupos(id),
    creado_en TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    actualizado_en TIMESTAMPTZ NOT NULL DEFAULT NOW()
  );
  CREATE TABLE mensajes (
    id BIGSERIAL PRIMARY KEY,
    mensaje_uuid UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    sala_chat_id BIGINT NOT NULL REFERENCES salas_chat(id),
    remitente_id BIGINT NOT NULL REFERENCES usuarios(id),
    tipo_mensaje tipo_mensaje_enum NOT NULL DEFAULT 'texto',
    contenido TEXT,
    url_archivo TEXT,
    metadatos JSONB NOT NULL DEFAULT '{}'::jsonb,
    enviado_en TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    editado_en TIMESTAMPTZ,
    eliminado_en TIMESTAMPTZ
  );
  CREATE TABLE destinatarios_mensaje (
    mensaje_id BIGINT NOT NULL REFERENCES mensajes(id),
    destinatario_id BIGINT NOT NULL REFERENCES usuarios(id),
    entregado_en TIMESTAMPTZ,
    leido_en TIMESTAMPTZ,
    creado_en TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (mensaje_id, destinatario_id)
  );
  INSERT INTO usuarios (id, nombre) VALUES (123, 'Ana'), (789, 'Luis'), (10, 'Eva'), (11, 'Iker');
  INSERT INTO grupos (id, nombre) VALUES (456, 'Cálculo I');
  -- A room written by the guide's server, with the larger user id first.
  INSERT INTO salas_chat (id, tipo_sala, usuario_a_id, usuario_b_id) VALUES (5000, 'directo', 789, 10);
  SELECT setval('salas_chat_id_seq', 5000);
`;

let db: TestDatabase;
let core: CoreServices;
let enumOids: unknown[];

const env = () => coreTestEnv(db.url);
const query = (sql: string, params: unknown[] = []) => withClient(db.url, async (c) => (await c.query(sql, params)).rows);
/** A message's recipients, once delivery has recorded `count` of them (the hand-off follows the send). */
async function recipientsOf(messageId: bigint, count: number): Promise<string[]> {
  const read = async () => (await query("select destinatario_id from destinatarios_mensaje where mensaje_id = $1 order by 1", [String(messageId)])).map((r) => r["destinatario_id"] as string);
  await waitFor(async () => (await read()).length >= count, 5000, `${count} recipients of message ${messageId}`);
  return read();
}
const oids = () => query("select typname, oid::text from pg_type where typname in ('tipo_sala_chat_enum', 'tipo_mensaje_enum') order by 1");

beforeAll(async () => {
  db = await createTestDatabase("upred");
  await query(GUIDE_DDL);
  enumOids = await oids();
  core = await startCoreServices(env(), { logLevel: "silent" });
});

afterAll(async () => {
  await core?.close();
  await db?.drop();
});

describe("on an existing upred_db", () => {
  it("keeps the guide's types and tables, and a second start migrates nothing", async () => {
    expect(await oids()).toEqual(enumOids);
    const fks = await query("select count(*)::int as n from information_schema.table_constraints where constraint_type = 'FOREIGN KEY' and table_name in ('salas_chat', 'mensajes', 'destinatarios_mensaje')");
    expect(fks).toEqual([{ n: 7 }]);
    const again = await startCoreServices(env(), { logLevel: "silent" });
    await again.close();
    expect(await oids()).toEqual(enumOids);
  });

  it("sends, dispatches and marks delivered through the guide's foreign keys", async () => {
    const messages = createServiceClient(MessagesService, { baseUrl: core.messages.url });
    const delivery = createServiceClient(DeliveryService, { baseUrl: core.delivery.url });
    const rooms = createServiceClient(RoomsService, { baseUrl: core.rooms.url });

    const sent = await messages.sendMessage({ senderId: 123n, to: 789n, type: RoomType.DIRECTO, content: "Hola, ¿cómo estás?" });
    const [row] = await query("select sala_chat_id, remitente_id from mensajes where id = $1", [String(sent.message!.id)]);
    expect(row).toEqual({ sala_chat_id: String(sent.message!.roomId), remitente_id: "123" });

    // The legacy room (789, 10) stored in the other order is found, not duplicated.
    const legacy = await messages.sendMessage({ senderId: 10n, to: 789n, type: RoomType.DIRECTO, content: "hola" });
    expect(legacy.message!.roomId).toBe(5000n);
    expect(await query("select count(*)::int as n from salas_chat where tipo_sala = 'directo'")).toEqual([{ n: 2 }]);

    await rooms.joinGroup({ groupId: 456n, userId: 10n });
    await rooms.joinGroup({ groupId: 456n, userId: 11n });
    await rooms.joinGroup({ groupId: 456n, userId: 123n });
    const group = await messages.sendMessage({ senderId: 10n, to: 456n, type: RoomType.GRUPAL, content: "Hola a todos!" });
    expect(await recipientsOf(group.message!.id, 2)).toEqual(["11", "123"]);

    // The direct message's recipient was recorded right after it was stored.
    expect(await recipientsOf(sent.message!.id, 1)).toEqual(["789"]);
    const marked = await delivery.markDelivered({ messageId: sent.message!.id, userId: 789n });
    expect(marked.first).toBe(true);
    const [receipt] = await query("select entregado_en from destinatarios_mensaje where mensaje_id = $1 and destinatario_id = 789", [String(sent.message!.id)]);
    expect(receipt.entregado_en).toBeInstanceOf(Date);
  });

  it("answers FailedPrecondition when the database refuses an unknown user or group, writing nothing", async () => {
    const messages = createServiceClient(MessagesService, { baseUrl: core.messages.url });
    const rooms = createServiceClient(RoomsService, { baseUrl: core.rooms.url });
    const before = await query("select (select count(*) from mensajes)::int as m, (select count(*) from salas_chat)::int as s");
    expect(await codeOf(messages.sendMessage({ senderId: 123n, to: 4040n, type: RoomType.DIRECTO, content: "¿hay alguien?" }))).toBe(Code.FailedPrecondition);
    expect(await codeOf(rooms.joinGroup({ groupId: 999n, userId: 123n }))).toBe(Code.FailedPrecondition);
    expect(await query("select (select count(*) from mensajes)::int as m, (select count(*) from salas_chat)::int as s")).toEqual(before);
    expect(await query("select count(*)::int as n from chat_miembros_grupo where grupo_id = 999")).toEqual([{ n: 0 }]);
  });

  it("keeps delivering a group message when one member is unknown to usuarios", async () => {
    const messages = createServiceClient(MessagesService, { baseUrl: core.messages.url });
    const rooms = createServiceClient(RoomsService, { baseUrl: core.rooms.url });
    await rooms.joinGroup({ groupId: 456n, userId: 31337n });
    const sent = await messages.sendMessage({ senderId: 123n, to: 456n, type: RoomType.GRUPAL, content: "¿todos?" });
    // 31337 is skipped (and logged), the others recorded; the hand-off is then complete.
    expect(await recipientsOf(sent.message!.id, 2)).toEqual(["10", "11"]);
    await waitFor(async () => (await query("select count(*)::int as n from mensajes_despacho_pendiente where mensaje_id = $1", [String(sent.message!.id)]))[0]!["n"] === 0, 5000, "the hand-off to complete");
  });
});
