/**
 * The client against one real edge: sending resolves with the stored message, receiving,
 * refusals, edits and deletes, and the protocol calls.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@redup/kit/testing";
import type { EdgeServer } from "@redup/edge";
import { ChatError } from "../src/index.js";
import { collect, online, startStack, type Stack } from "./stack.js";

let stack: Stack;
let edge: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge();
});
afterAll(async () => {
  await stack?.close();
});

describe("a client on one edge", () => {
  it("sends, receives once, and marks delivered", async () => {
    const ana = stack.client(edge.port, { auth: { user_id: "101" } });
    const luis = stack.client(edge.port, { auth: { user_id: "102" } });
    const received = collect(luis, "message");
    const delivered = collect(ana, "delivered");
    await Promise.all([online(ana), online(luis)]);
    expect(ana.userId).toBe("101");

    const stored = await ana.send({ to: "102", type: "directo", message: "hola" });
    expect(stored).toMatchObject({ status: "sent", saved_to_db: true, to: "102", sender_id: "101" });
    expect(stored.client_msg_id).toMatch(/.+/);
    expect(ana.pending()).toEqual([]);
    await waitFor(() => received.length === 1, 5000, "luis to receive");
    expect(received[0]).toMatchObject({ mensaje_id: stored.mensaje_id, from: "101", message: "hola" });
    await waitFor(() => delivered.length === 1, 5000, "the delivery receipt");
    expect(delivered[0]).toMatchObject({ mensaje_id: stored.mensaje_id, user_id: "102" });
  });

  it("rejects a refusal with the protocol's error, without retrying it", async () => {
    const ana = stack.client(edge.port, { auth: { user_id: "111" } });
    const failed = collect(ana, "failed");
    await online(ana);
    const err = await ana.send({ to: "111", type: "directo", message: "a mí mismo" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatError);
    expect(err).toMatchObject({ code: "INVALID_ID", event: "send_message" });
    expect(ana.pending()).toEqual([]);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.entry.attempts).toBe(1);
  });
});
