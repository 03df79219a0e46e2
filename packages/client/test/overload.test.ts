/**
 * An edge that cannot keep up refuses events as OVERLOADED with `retry_after_ms`: the client
 * waits that long, sends again with the same client_msg_id, and each message is stored once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@redup/kit/testing";
import { collect, fullHistory, online, startStack, type Stack } from "./stack.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

describe("an overloaded edge", () => {
  it("is given the wait it asked for, and every message is stored once", async () => {
    // The edge reaches the messages service through a proxy the test can stall: its calls hang.
    const messages = await stack.proxy(Number(new URL(stack.env["MESSAGES_URL"]!).port));
    const edge = await stack.startEdge({ MESSAGES_URL: `http://127.0.0.1:${messages.port}`, MAX_PENDING_EVENTS: "2", RPC_TIMEOUT_MS: "1500" });
    const users = ["801", "802", "803", "804", "805"];
    const clients = users.map((user_id) => stack.client(edge.port, { auth: { user_id } }));
    const errors = clients.map((c) => collect(c, "error"));
    const sent = clients.map((c) => collect(c, "sent"));
    await Promise.all(clients.map((c) => online(c)));

    messages.stall();
    const sends = clients.map((c, i) => c.send({ to: "899", type: "directo", message: `de ${users[i]}` }));
    const overloaded = () => errors.flat().find((e) => e.event === "send_message" && e.code === "OVERLOADED");
    await waitFor(overloaded, 10_000, "a send refused OVERLOADED");
    expect(overloaded()).toMatchObject({ retry_after_ms: 1000 });
    await messages.cut();
    await messages.restore();

    const acks = await Promise.all(sends);
    expect(acks.map((a) => a.sender_id)).toEqual(users);
    expect(acks.every((a) => a.saved_to_db)).toBe(true);
    expect(Math.max(...sent.flat().map((s) => s.entry.attempts))).toBeGreaterThan(1);
    const reader = stack.client(edge.port, { auth: { user_id: "899" } });
    for (const user of users) expect((await fullHistory(reader, "directo", user)).map((m) => m.message)).toEqual([`de ${user}`]);
  });
});
