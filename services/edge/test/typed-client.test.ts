/** The README's typed-client example, compiled by `npm run typecheck` and run here. */
import { io, type Socket } from "socket.io-client";
import { afterAll, assert, beforeAll, expect, it } from "vitest";
import type { ClientToServerEvents, ReceivedMessage, ServerToClientEvents } from "../src/events.js";
import type { EdgeServer } from "../src/index.js";
import { startStack, type Stack } from "./harness.js";

let stack: Stack;
let edge: EdgeServer;
beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge();
});
afterAll(async () => {
  await stack?.close();
});

it("types a client end to end", async () => {
  const alice: Socket<ServerToClientEvents, ClientToServerEvents> = io(edge.url, { query: { user_id: "7001" }, transports: ["websocket"], forceNew: true });
  const bob: Socket<ServerToClientEvents, ClientToServerEvents> = io(edge.url, { query: { user_id: "7002" }, transports: ["websocket"], forceNew: true });
  await Promise.all([alice, bob].map((s) => new Promise((resolve) => s.once("connected", resolve))));
  const got = new Promise<ReceivedMessage>((resolve) => bob.once("receive_message", resolve));
  const ack = await alice.timeout(5000).emitWithAck("send_message", { to: "7002", message: "Hola", type: "directo" });
  expect(ack.status).toBe("sent");
  // The README narrows with `if ("saved_to_db" in ack)`; here that branch must be taken.
  assert("saved_to_db" in ack, `expected a send ACK, got ${JSON.stringify(ack)}`);
  expect(ack.saved_to_db).toBe(true);
  expect(ack.mensaje_id).toMatch(/^\d+$/);
  const m = await got;
  expect([m.from, m.message]).toEqual(["7001", "Hola"]);
  alice.disconnect();
  bob.disconnect();
});
