/**
 * Every refusal of docs/protocol.md: an error callback and an `error` event with the code,
 * nothing stored, and the same socket still works afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EdgeServer } from "../src/index.js";
import { call, collect, connectUser, startStack, until, type ClientSocket, type Stack } from "./harness.js";

let stack: Stack;
let edge: EdgeServer;
let sender: ClientSocket;
let peer: ClientSocket;

beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge();
  sender = (await connectUser(edge, 10)).socket;
  peer = (await connectUser(edge, 20)).socket;
  await call(peer, "join_group", { group_id: 77 });
});
afterAll(async () => {
  await stack?.close();
});

const valid = { to: "20", message: "válido", sender_id: "10", timestamp: "2024-01-15T10:30:00Z", type: "directo", message_type: "texto" };
const validFromPeer = { to: "10", message: "válido", sender_id: "20", type: "directo" };
const count = async () => Number((await stack.query("select count(*)::int as n from mensajes"))[0]!["n"]);

async function expectRefusal(socket: ClientSocket, event: string, payload: unknown, code: string) {
  const errors = collect<Record<string, unknown>>(socket, "error");
  const before = await count();
  const reply = await call(socket, event, payload);
  expect(reply, `${event} ${JSON.stringify(payload)?.slice(0, 100)}`).toEqual({ status: "error", code, message: expect.any(String) });
  expect((reply["message"] as string).length).toBeGreaterThan(5);
  expect((await until(errors, 1))[0]).toEqual({ event, code, message: reply["message"] });
  expect(await count()).toBe(before);
  // The same socket still sends a valid message.
  const ok = await call(socket, "send_message", socket === peer ? validFromPeer : valid);
  expect(ok).toMatchObject({ status: "sent", saved_to_db: true });
}

describe("send_message refusals", () => {
  const cases: [string, unknown, string][] = [
    ["a string instead of an object", "hola", "INVALID_PAYLOAD"],
    ["an array instead of an object", [valid], "INVALID_PAYLOAD"],
    ["null", null, "INVALID_PAYLOAD"],
    ["a number", 42, "INVALID_PAYLOAD"],
    ["a sender_id of someone else", { ...valid, sender_id: "11" }, "SENDER_MISMATCH"],
    ["a non-numeric sender_id", { ...valid, sender_id: "abc" }, "SENDER_MISMATCH"],
    ["a missing to", { ...valid, to: undefined }, "INVALID_ID"],
    ["a non-numeric to", { ...valid, to: "juan" }, "INVALID_ID"],
    ["a negative to", { ...valid, to: -3 }, "INVALID_ID"],
    ["an unsafe float to", { ...valid, to: 1.5 }, "INVALID_ID"],
    ["to = the sender", { ...valid, to: "10" }, "INVALID_ID"],
    ["a missing type", { ...valid, type: undefined }, "INVALID_TYPE"],
    ["an unknown type", { ...valid, type: "privado" }, "INVALID_TYPE"],
    ["an unknown message_type", { ...valid, message_type: "video" }, "INVALID_MESSAGE_TYPE"],
    ["a numeric message_type", { ...valid, message_type: 1 }, "INVALID_MESSAGE_TYPE"],
    ["a missing text", { ...valid, message: undefined }, "EMPTY_MESSAGE"],
    ["a blank text", { ...valid, message: "   " }, "EMPTY_MESSAGE"],
    ["a non-string text", { ...valid, message: { a: 1 } }, "INVALID_PAYLOAD"],
    ["an image without url", { ...valid, message_type: "imagen" }, "MISSING_URL"],
    ["a file with a non-http url", { ...valid, message_type: "archivo", url_archivo: "file:///etc/passwd" }, "INVALID_URL"],
    ["an audio with a javascript: url", { ...valid, message_type: "audio", url_archivo: "javascript:alert(1)" }, "INVALID_URL"],
    ["a timestamp that is not ISO 8601", { ...valid, timestamp: "15/01/2024" }, "INVALID_TIMESTAMP"],
    ["a numeric timestamp", { ...valid, timestamp: 1705314600 }, "INVALID_TIMESTAMP"],
    ["a text over 4000 characters", { ...valid, message: "x".repeat(4001) }, "MESSAGE_TOO_LONG"],
    ["a client_msg_id over 64 characters", { ...valid, client_msg_id: "k".repeat(65) }, "INVALID_CLIENT_MSG_ID"],
    ["a group message from a non-member", { ...valid, to: "77", type: "grupal" }, "NOT_A_MEMBER"],
  ];
  for (const [what, payload, code] of cases) {
    it(`refuses ${what} with ${code}`, () => expectRefusal(sender, "send_message", payload, code));
  }
});

describe("other events' refusals", () => {
  it("refuses marking someone else's message, or for another user", async () => {
    const ack = await call(sender, "send_message", valid);
    // The sender is not a recipient of their own message.
    await expectRefusal(sender, "mark_delivered", { mensaje_id: ack["mensaje_id"], user_id: "10" }, "NOT_A_RECIPIENT");
    // The recipient may not mark in another user's name.
    await expectRefusal(peer, "mark_delivered", { mensaje_id: ack["mensaje_id"], user_id: "10" }, "USER_MISMATCH");
    await expectRefusal(peer, "mark_delivered", { mensaje_id: "987654321", user_id: "20" }, "MESSAGE_NOT_FOUND");
    await expectRefusal(peer, "mark_delivered", { user_id: "20" }, "INVALID_ID");
    await expectRefusal(peer, "mark_read", "abc", "INVALID_PAYLOAD");
    const [row] = await stack.query("select entregado_en from destinatarios_mensaje where mensaje_id = $1", [ack["mensaje_id"]]);
    expect(row!["entregado_en"]).toBeNull();
  });

  it("refuses bad join_group, get_history, edit and delete input", async () => {
    await expectRefusal(sender, "join_group", { group_id: "grupo" }, "INVALID_ID");
    await expectRefusal(sender, "join_group", [], "INVALID_PAYLOAD");
    await expectRefusal(sender, "get_history", { type: "grupal", to: "77" }, "NOT_A_MEMBER");
    await expectRefusal(sender, "get_history", { type: "directo", to: "20", limit: 5000 }, "INVALID_PAYLOAD");
    const ack = await call(sender, "send_message", valid);
    await expectRefusal(peer, "edit_message", { mensaje_id: ack["mensaje_id"], message: "hack" }, "NOT_THE_SENDER");
    await expectRefusal(peer, "delete_message", { mensaje_id: ack["mensaje_id"] }, "NOT_THE_SENDER");
    expect((await stack.query("select contenido, eliminado_en from mensajes where id = $1", [ack["mensaje_id"]]))[0]).toEqual({ contenido: "válido", eliminado_en: null });
  });

  it("answers an unknown event with nothing and keeps the socket usable", async () => {
    (sender as unknown as { emit(e: string, p: unknown): void }).emit("drop_database", { now: true });
    expect(await call(sender, "send_message", valid)).toMatchObject({ status: "sent" });
  });
});
