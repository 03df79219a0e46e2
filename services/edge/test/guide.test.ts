/**
 * The guide's example flows (seed/websocket-redup-guide.es.md), with real socket.io-client
 * instances against a real edge, services, PostgreSQL and NATS.
 */
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EdgeServer } from "../src/index.js";
import { call, collect, connectUser, next, startStack, until, type Stack } from "./harness.js";

let stack: Stack;
let edge: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge();
});
afterAll(async () => {
  await stack?.close();
});

const ISO_PY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("handshake", () => {
  it("refuses a connection without user_id with the guide's exact message", async () => {
    const socket = io(edge.url, { transports: ["websocket"], reconnection: false, forceNew: true });
    const err = await new Promise<Error & { data?: { code: string } }>((resolve) => socket.once("connect_error", resolve));
    expect(err.message).toBe("user_id es requerido");
    expect(err.data).toEqual({ code: "USER_ID_REQUIRED" });
    socket.close();
  });

  it("refuses a user_id that is not a positive integer", async () => {
    for (const bad of ["abc", "0", "-5", "1.5", "99999999999999999999"]) {
      const socket = io(edge.url, { query: { user_id: bad }, transports: ["websocket"], reconnection: false, forceNew: true });
      const err = await new Promise<Error & { data?: { code: string } }>((resolve) => socket.once("connect_error", resolve));
      expect(err.message, bad).toBe("user_id inválido");
      expect(err.data).toEqual({ code: "USER_ID_INVALID" });
      socket.close();
    }
  });

  it("accepts user_id in the query or the auth object, over websocket or polling, and says connected", async () => {
    const viaQuery = await connectUser(edge, "123");
    expect(viaQuery.connected).toEqual({ status: "connected", user_id: "123", sid: viaQuery.socket.id });
    const viaPolling = await connectUser(edge, 124, { transports: ["polling"] });
    expect(viaPolling.connected.user_id).toBe("124");
    const viaAuth = io(edge.url, { auth: { user_id: 125 }, transports: ["websocket"], reconnection: false, forceNew: true });
    expect(await next<{ user_id: string }>(viaAuth as never, "connected")).toMatchObject({ status: "connected", user_id: "125" });
    for (const s of [viaQuery.socket, viaPolling.socket, viaAuth]) s.disconnect();
  });
});

describe("chat 1 a 1", () => {
  it("delivers both ways in one room, ACKs by callback and by event, and marks delivered", async () => {
    const u1 = await connectUser(edge, 123);
    const u2 = await connectUser(edge, 789);
    const acks = collect<Record<string, unknown>>(u1.socket, "ack");
    const toU2 = next<Record<string, unknown>>(u2.socket, "receive_message");
    const timestamp = new Date().toISOString();
    const ack = await call(u1.socket, "send_message", { to: "789", message: "Hola, ¿cómo estás?", sender_id: "123", timestamp, type: "directo", message_type: "texto" });

    expect(ack).toEqual({
      status: "sent",
      to: "789",
      sender_id: "123",
      timestamp,
      type: "directo",
      message_type: "texto",
      saved_to_db: true,
      mensaje_id: expect.stringMatching(/^[1-9]\d*$/),
      sala_chat_id: expect.stringMatching(/^[1-9]\d*$/),
      message: "Mensaje enviado y guardado en BD",
      mensaje_uuid: expect.stringMatching(UUID),
      enviado_en: expect.stringMatching(ISO_PY),
      client_msg_id: null,
    });
    expect((await until(acks, 1))[0]).toEqual(ack);

    const received = await toU2;
    expect(received).toEqual({
      from: "123",
      to: "789",
      message: "Hola, ¿cómo estás?",
      type: "directo",
      message_type: "texto",
      timestamp,
      mensaje_id: ack["mensaje_id"],
      mensaje_uuid: ack["mensaje_uuid"],
      enviado_en: ack["enviado_en"],
      sala_chat_id: ack["sala_chat_id"],
      url_archivo: null,
    });
    const [row] = await stack.query("select remitente_id, contenido, tipo_mensaje, sala_chat_id from mensajes where id = $1", [ack["mensaje_id"]]);
    expect(row).toEqual({ remitente_id: "123", contenido: "Hola, ¿cómo estás?", tipo_mensaje: "texto", sala_chat_id: ack["sala_chat_id"] });

    // The guide's reply, and the same room for the other direction.
    const toU1 = next<Record<string, unknown>>(u1.socket, "receive_message");
    const reply = await call(u2.socket, "send_message", { to: received["from"], message: "¡Hola! Todo bien, ¿y tú?", sender_id: "789", timestamp: new Date().toISOString(), type: "directo", message_type: "texto" });
    expect(reply["sala_chat_id"]).toBe(ack["sala_chat_id"]);
    expect(await toU1).toMatchObject({ from: "789", to: "123", message: "¡Hola! Todo bien, ¿y tú?", sala_chat_id: ack["sala_chat_id"] });

    // mark_delivered: callback + `delivered`, the row updated, and the sender told.
    const deliveredEvent = next(u2.socket, "delivered");
    const toSender = next<Record<string, unknown>>(u1.socket, "message_delivered");
    const marked = await call(u2.socket, "mark_delivered", { mensaje_id: received["mensaje_id"], user_id: "789" });
    expect(marked).toEqual({ status: "ok", mensaje_id: received["mensaje_id"], user_id: "789" });
    expect(await deliveredEvent).toEqual(marked);
    const [rec] = await stack.query("select entregado_en from destinatarios_mensaje where mensaje_id = $1 and destinatario_id = 789", [received["mensaje_id"]]);
    expect(rec!["entregado_en"]).toBeInstanceOf(Date);
    expect(await toSender).toEqual({ mensaje_id: received["mensaje_id"], user_id: "789", entregado_en: expect.stringMatching(ISO_PY) });
    // Repeating is harmless.
    expect(await call(u2.socket, "mark_delivered", { mensaje_id: received["mensaje_id"], user_id: "789" })).toEqual(marked);

    u1.socket.disconnect();
    u2.socket.disconnect();
  });

  it("sends an image with its url", async () => {
    const u1 = await connectUser(edge, 123);
    const u2 = await connectUser(edge, 789);
    const url = "https://res.cloudinary.com/mycloud/image/upload/v123/clase.jpg";
    const received = next<Record<string, unknown>>(u2.socket, "receive_message");
    const ack = await call(u1.socket, "send_message", { to: "789", message: "Te envío esta foto de la clase", sender_id: "123", timestamp: new Date().toISOString(), type: "directo", message_type: "imagen", url_archivo: url });
    expect(ack).toMatchObject({ saved_to_db: true, message_type: "imagen" });
    expect(await received).toMatchObject({ message_type: "imagen", url_archivo: url, message: "Te envío esta foto de la clase" });
    expect(await stack.query("select tipo_mensaje, url_archivo from mensajes where id = $1", [ack["mensaje_id"]])).toEqual([{ tipo_mensaje: "imagen", url_archivo: url }]);
    u1.socket.disconnect();
    u2.socket.disconnect();
  });

  it("reaches the sender's other sockets, never the sending one, once each", async () => {
    const phone = await connectUser(edge, 300);
    const laptop = await connectUser(edge, 300);
    const peer = await connectUser(edge, 301);
    const onPhone = collect<Record<string, unknown>>(phone.socket, "receive_message");
    const onLaptop = collect<Record<string, unknown>>(laptop.socket, "receive_message");
    const onPeer = collect<Record<string, unknown>>(peer.socket, "receive_message");
    const other = await connectUser(edge, 302);
    const ack = await call(phone.socket, "send_message", { to: 301, message: "desde el móvil", type: "directo" });
    await until(onLaptop, 1);
    await until(onPeer, 1);
    // Barriers: later messages that must arrive over the same NATS subjects (user 300's, then
    // user 301's) and the same sockets. Once they are in, any copy of the first message still on
    // its way there would have arrived before them.
    const toUser300 = await call(peer.socket, "send_message", { to: 300, message: "barrera 300", type: "directo" });
    const toUser301 = await call(other.socket, "send_message", { to: 301, message: "barrera 301", type: "directo" });
    await until(onPhone, 1);
    await until(onLaptop, 2);
    await until(onPeer, 2);
    const ids = (got: Record<string, unknown>[]) => got.map((m) => m["mensaje_id"]);
    expect(ids(onPhone)).toEqual([toUser300["mensaje_id"]]);
    expect(ids(onLaptop)).toEqual([ack["mensaje_id"], toUser300["mensaje_id"]]);
    expect(onLaptop[0]).toMatchObject({ from: "300", to: "301", mensaje_id: ack["mensaje_id"] });
    expect(ids(onPeer)).toEqual([ack["mensaje_id"], toUser301["mensaje_id"]]);
    for (const s of [phone, laptop, peer, other]) s.socket.disconnect();
  });
});

describe("chat grupal", () => {
  it("joins, persists membership, and reaches joined members only", async () => {
    const u1 = await connectUser(edge, 123);
    const u2 = await connectUser(edge, 789);
    const outsider = await connectUser(edge, 555);
    const joined1 = next(u1.socket, "group_joined");
    const j1 = await call(u1.socket, "join_group", { group_id: "456" });
    expect(j1).toEqual({ status: "ok", group_id: "456", user_id: "123" });
    expect(await joined1).toEqual(j1);
    expect(await call(u2.socket, "join_group", { group_id: 456 })).toEqual({ status: "ok", group_id: "456", user_id: "789" });
    expect(await stack.query("select usuario_id from chat_miembros_grupo where grupo_id = 456 order by 1")).toEqual([{ usuario_id: "123" }, { usuario_id: "789" }]);

    const toU2 = next<Record<string, unknown>>(u2.socket, "receive_message");
    const outsiderGot = collect(outsider.socket, "receive_message");
    const ack = await call(u1.socket, "send_message", { to: "456", message: "Hola a todos!", sender_id: "123", timestamp: new Date().toISOString(), type: "grupal", message_type: "texto" });
    expect(ack).toMatchObject({ status: "sent", to: "456", type: "grupal", saved_to_db: true });
    expect(await toU2).toMatchObject({ from: "123", to: "456", type: "grupal", message: "Hola a todos!", mensaje_id: ack["mensaje_id"] });
    const recipients = await stack.query("select destinatario_id from destinatarios_mensaje where mensaje_id = $1", [ack["mensaje_id"]]);
    expect(recipients).toEqual([{ destinatario_id: "789" }]);
    // 789 got the group's event, so this edge has handled it; a later message that must reach the
    // outsider's socket is the barrier: once it is in, nothing of the group message is on its way.
    const toOutsider = await call(u1.socket, "send_message", { to: 555, message: "barrera", type: "directo" });
    await until(outsiderGot, 1);
    expect(outsiderGot).toEqual([expect.objectContaining({ mensaje_id: toOutsider["mensaje_id"] })]);

    // A user who has not joined may not send to the group.
    const refused = await call(outsider.socket, "send_message", { to: "456", message: "colado", type: "grupal" });
    expect(refused).toMatchObject({ status: "error", code: "NOT_A_MEMBER" });

    // leave_group: no more group messages for 789.
    // A member who stays (joined after the recipients check above) shows when the group's event
    // has been handled; then a direct message to 789 is the barrier on 789's socket.
    const stays = await connectUser(edge, 790);
    expect(await call(stays.socket, "join_group", { group_id: 456 })).toMatchObject({ status: "ok" });
    expect(await call(u2.socket, "leave_group", { group_id: "456" })).toEqual({ status: "ok", group_id: "456", user_id: "789" });
    const afterLeave = collect<Record<string, unknown>>(u2.socket, "receive_message");
    const atStays = collect<Record<string, unknown>>(stays.socket, "receive_message");
    const toGroup = await call(u1.socket, "send_message", { to: "456", message: "¿sigue alguien?", type: "grupal" });
    await until(atStays, 1);
    expect(atStays[0]).toMatchObject({ mensaje_id: toGroup["mensaje_id"] });
    const toU2Direct = await call(u1.socket, "send_message", { to: 789, message: "barrera", type: "directo" });
    await until(afterLeave, 1);
    expect(afterLeave).toEqual([expect.objectContaining({ mensaje_id: toU2Direct["mensaje_id"] })]);
    for (const s of [u1, u2, outsider, stays]) s.socket.disconnect();
  });
});
