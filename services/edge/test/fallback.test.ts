/**
 * The guide's "fallback si falla la BD": with messages (or its database) down, a message is
 * still delivered live and ACKed saved_to_db:false; saving resumes by itself. With NATS down,
 * stored messages ACK saved_to_db:true and arrive by catch-up; the edge reconnects by itself.
 */
import { loadConfig as deliveryConfig, startDelivery } from "@redup/delivery";
import { loadConfig as messagesConfig, startMessages } from "@redup/messages";
import { loadConfig as roomsConfig, startRooms } from "@redup/rooms";
import { startTcpProxy, startTestNats, waitFor, type TcpProxy, type TestNats } from "@redup/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, collect, connectUser, logger, startStack, until, type Stack } from "./harness.js";

const UNSAVED = {
  status: "sent",
  saved_to_db: false,
  mensaje_id: null,
  sala_chat_id: null,
  message: "Mensaje enviado (no guardado en BD)",
};

describe("when the messages service stops and comes back", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("delivers live unsaved, reports not ready, and saves again after the restart", async () => {
    const edge = await stack.startEdge();
    const a = await connectUser(edge, 3001);
    const b = await connectUser(edge, 3002);
    await call(a.socket, "join_group", { group_id: 5100 });
    await call(b.socket, "join_group", { group_id: 5100 });
    const atB = collect<Record<string, unknown>>(b.socket, "receive_message");
    expect(await call(a.socket, "send_message", { to: 3002, message: "antes", type: "directo" })).toMatchObject({ saved_to_db: true });
    await until(atB, 1);

    const port = new URL(stack.core.messages.url).port;
    await stack.core.messages.close();
    const before = await stack.query("select count(*)::int as n from mensajes");

    const timestamp = "2024-01-15T10:30:00Z";
    const ack = await call(a.socket, "send_message", { to: "3002", message: "sin BD", sender_id: "3001", timestamp, type: "directo", message_type: "texto" });
    expect(ack).toEqual({ ...UNSAVED, to: "3002", sender_id: "3001", timestamp, type: "directo", message_type: "texto", mensaje_uuid: expect.any(String), enviado_en: expect.any(String), client_msg_id: null });
    await until(atB, 2);
    expect(atB[1]).toMatchObject({ from: "3001", to: "3002", message: "sin BD", mensaje_id: null, sala_chat_id: null, mensaje_uuid: ack["mensaje_uuid"], timestamp });

    const group = await call(a.socket, "send_message", { to: "5100", message: "grupo sin BD", type: "grupal" });
    expect(group).toMatchObject({ ...UNSAVED, type: "grupal" });
    await until(atB, 3);
    expect(atB[2]).toMatchObject({ to: "5100", message: "grupo sin BD", mensaje_id: null });
    expect(await stack.query("select count(*)::int as n from mensajes")).toEqual(before);

    const ready = await fetch(`${edge.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: unknown }).checks).toMatchObject({ messages: false, rooms: true, delivery: true, nats: true });

    const restarted = await startMessages(messagesConfig({ ...stack.env, MESSAGES_PORT: port }), logger);
    try {
      const saved = await call(a.socket, "send_message", { to: 3002, message: "con BD otra vez", type: "directo" });
      expect(saved).toMatchObject({ saved_to_db: true, mensaje_id: expect.stringMatching(/^\d+$/) });
      await until(atB, 4);
      expect(atB[3]).toMatchObject({ mensaje_id: saved["mensaje_id"] });
      expect((await fetch(`${edge.url}/readyz`)).status).toBe(200);
    } finally {
      await restarted.close();
      a.socket.disconnect();
      b.socket.disconnect();
    }
  });
});

describe("when the delivery service stops and comes back", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("stores, still delivers live (messages publishes), and records the recipient once delivery is back", async () => {
    const edge = await stack.startEdge();
    const a = await connectUser(edge, 3301);
    const b = await connectUser(edge, 3302);
    const atB = collect<Record<string, unknown>>(b.socket, "receive_message");
    const port = new URL(stack.core.delivery.url).port;
    await stack.core.delivery.close();

    const ack = await call(a.socket, "send_message", { to: 3302, message: "sin delivery", type: "directo" });
    expect(ack).toMatchObject({ status: "sent", saved_to_db: true, mensaje_id: expect.stringMatching(/^\d+$/), message: "Mensaje enviado y guardado en BD" });
    await until(atB, 1);
    expect(atB[0]).toMatchObject({ mensaje_id: ack["mensaje_id"], message: "sin delivery" });
    expect(await stack.query("select count(*)::int as n from destinatarios_mensaje")).toEqual([{ n: 0 }]);

    const restarted = await startDelivery(deliveryConfig({ ...stack.env, DELIVERY_PORT: port }), logger);
    try {
      await waitFor(async () => (await stack.query("select count(*)::int as n from destinatarios_mensaje where mensaje_id = $1", [ack["mensaje_id"]]))[0]!["n"] === 1, 10_000, "the outbox to hand the message to delivery");
      // The outbox re-published it; the socket still has it once.
      await call(b.socket, "mark_delivered", { mensaje_id: ack["mensaje_id"] });
      expect(atB.filter((m) => m["mensaje_id"] === ack["mensaje_id"])).toHaveLength(1);
    } finally {
      await restarted.close();
      a.socket.disconnect();
      b.socket.disconnect();
    }
  });
});

describe("when rooms is down as a user connects", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("still replays pending direct messages, and re-joins the user's groups once rooms is back", async () => {
    const edge = await stack.startEdge();
    const a = await connectUser(edge, 3401);
    await call(a.socket, "join_group", { group_id: 5400 });
    const b0 = await connectUser(edge, 3402);
    await call(b0.socket, "join_group", { group_id: 5400 });
    b0.socket.disconnect();
    const pending = await call(a.socket, "send_message", { to: 3402, message: "pendiente", type: "directo" });

    const port = new URL(stack.core.rooms.url).port;
    await stack.core.rooms.close();
    const b = await connectUser(edge, 3402);
    const got = collect<Record<string, unknown>>(b.socket, "receive_message");
    await until(got, 1);
    expect(got[0]).toMatchObject({ mensaje_id: pending["mensaje_id"], message: "pendiente" });
    expect(edge.context.fanout.userInGroup("3402", "5400")).toBe(false);

    const rooms = await startRooms(roomsConfig({ ...stack.env, ROOMS_PORT: port }), logger);
    try {
      await waitFor(() => edge.context.fanout.userInGroup("3402", "5400"), 20_000, "the background re-join");
      await call(a.socket, "send_message", { to: 5400, message: "de vuelta al grupo", type: "grupal" });
      await until(got, 2);
      expect(got[1]).toMatchObject({ to: "5400", message: "de vuelta al grupo" });
    } finally {
      await rooms.close();
      a.socket.disconnect();
      b.socket.disconnect();
    }
  });
});

describe("when the messages database goes down", () => {
  let stack: Stack;
  let proxy: TcpProxy;
  let messages: Awaited<ReturnType<typeof startMessages>> | undefined;
  beforeAll(async () => {
    proxy = await startTcpProxy(Number(new URL(process.env["TEST_DATABASE_URL"] || process.env["DATABASE_URL"] || "postgres://postgres@127.0.0.1:5432/test").port || 5432));
    stack = await startStack();
    const viaProxy = new URL(stack.env["DATABASE_URL"]!);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    // Only messages goes through the proxy; its own restart happens in the test.
    await stack.core.messages.close();
    messages = await startMessages(messagesConfig({ ...stack.env, MESSAGES_PORT: new URL(stack.core.messages.url).port, MESSAGES_DATABASE_URL: viaProxy.toString() }), logger);
  });
  afterAll(async () => {
    await messages?.close();
    await stack?.close();
    await proxy?.close();
  });

  it("falls back while it is down and saves again once it is back", async () => {
    const edge = await stack.startEdge();
    const a = await connectUser(edge, 3101);
    const b = await connectUser(edge, 3102);
    const atB = collect<Record<string, unknown>>(b.socket, "receive_message");
    await proxy.cut();
    const ack = await call(a.socket, "send_message", { to: 3102, message: "BD caída", type: "directo" });
    expect(ack).toMatchObject(UNSAVED);
    await until(atB, 1);
    // With a client_msg_id there is no fallback: it may retry a send that was stored after all.
    const keyed = await call(a.socket, "send_message", { to: 3102, message: "BD caída, con clave", type: "directo", client_msg_id: "k-3101-1" });
    expect(keyed).toMatchObject({ status: "error", code: "SERVICE_UNAVAILABLE" });
    await proxy.restore();
    const saved = await waitFor(async () => {
      const r = await call(a.socket, "send_message", { to: 3102, message: "BD de vuelta", type: "directo" });
      return r["saved_to_db"] === true ? r : undefined;
    }, 15_000, "a saved message after the database returns");
    expect(saved["mensaje_id"]).toMatch(/^\d+$/);
    a.socket.disconnect();
    b.socket.disconnect();
  });
});

describe("when NATS goes down", () => {
  let stack: Stack;
  let nats: TestNats;
  beforeAll(async () => {
    nats = await startTestNats();
    stack = await startStack({ NATS_URL: nats.url });
  });
  afterAll(async () => {
    await stack?.close();
    await nats?.stop();
  });

  it("stores and ACKs saved, delivers by catch-up, and goes live again when NATS returns", async () => {
    const edge = await stack.startEdge();
    const a = await connectUser(edge, 3201);
    const b = await connectUser(edge, 3202);
    await nats.stop();
    const ack = await call(a.socket, "send_message", { to: 3202, message: "NATS caído", type: "directo" });
    expect(ack).toMatchObject({ status: "sent", saved_to_db: true, mensaje_id: expect.stringMatching(/^\d+$/) });
    expect((await fetch(`${edge.url}/readyz`)).status).toBe(503);

    // The recipient reconnects and gets it by catch-up.
    b.socket.disconnect();
    const back = await connectUser(edge, 3202);
    const got = collect<Record<string, unknown>>(back.socket, "receive_message");
    await until(got, 1);
    expect(got[0]).toMatchObject({ mensaje_id: ack["mensaje_id"], message: "NATS caído" });

    await nats.start();
    await waitFor(async () => (await fetch(`${edge.url}/readyz`)).status === 200, 20_000, "the edge and delivery reconnect to NATS");
    await call(a.socket, "send_message", { to: 3202, message: "NATS de vuelta", type: "directo" });
    await waitFor(() => got.some((m) => m["message"] === "NATS de vuelta"), 10_000, "live delivery after NATS returns");
    // Once per socket, even though the outbox also re-published the first message.
    expect(got.filter((m) => m["mensaje_id"] === ack["mensaje_id"])).toHaveLength(1);
    a.socket.disconnect();
    back.socket.disconnect();
  });
});
