/** Concurrent sends of many sockets share SendMessages calls, and each still gets its own answer. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EdgeServer } from "../src/index.js";
import { call, collect, connectUser, startStack, until, type Stack } from "./harness.js";

let stack: Stack;
let edge: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge();
});
afterAll(async () => {
  await stack?.close();
});

describe("gathered sends", () => {
  it("answers every socket's send with its own ACK or error, and delivers each message once", async () => {
    const senders = await Promise.all(Array.from({ length: 20 }, (_, i) => connectUser(edge, 9100 + i)));
    const peer = await connectUser(edge, 9200);
    const received = collect<{ mensaje_id: string; message: string; from: string }>(peer.socket, "receive_message");

    // 20 sockets × 5 sends at once, one in five invalid (blank text).
    const sends = senders.flatMap((s, i) =>
      Array.from({ length: 5 }, (_, k) =>
        call<Record<string, unknown>>(s.socket, "send_message", { to: 9200, type: "directo", message: k === 4 ? "   " : `m${i}-${k}`, client_msg_id: `m${i}-${k}` }),
      ),
    );
    const answers = await Promise.all(sends);
    const acks = answers.filter((a) => a["status"] === "sent");
    const errors = answers.filter((a) => a["status"] !== "sent");
    expect(acks).toHaveLength(80);
    expect(errors).toHaveLength(20);
    expect(errors.every((e) => e["code"] === "EMPTY_MESSAGE")).toBe(true);
    expect(acks.every((a) => a["saved_to_db"] === true && /^\d+$/.test(String(a["mensaje_id"])))).toBe(true);
    expect(new Set(acks.map((a) => a["mensaje_id"])).size).toBe(80);
    // Each ACK names its own message: what the peer receives under that id is what was sent.
    const texts = new Map(acks.map((a) => [String(a["mensaje_id"]), a["client_msg_id"]]));

    await until(received, 80, 10_000);
    expect(received).toHaveLength(80);
    for (const m of received) expect(m.message).toBe(texts.get(m.mensaje_id));

    const metrics = await (await fetch(`${edge.url}/metrics`)).text();
    const sample = (line: string) => Number(metrics.split("\n").find((l) => l.startsWith(line))?.split(" ")[1]);
    // The refused sends never left the edge; fewer calls than sends: calls carried several.
    expect(sample("redup_edge_send_batch_size_sum")).toBe(80);
    expect(sample("redup_edge_send_batch_size_count")).toBeLessThan(80);
    for (const s of [...senders, peer]) s.socket.disconnect();
  });
});
