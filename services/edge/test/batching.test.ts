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

  it("gathers the catch-up reads and the confirmations of many sockets, each getting its own", async () => {
    const sender = await connectUser(edge, 9300);
    // 30 offline users with two pending messages each.
    const ids = Array.from({ length: 30 }, (_, i) => 9310 + i);
    for (const to of ids) {
      for (const k of [1, 2]) await call(sender.socket, "send_message", { to, type: "directo", message: `p${to}-${k}` });
    }
    const before = await (await fetch(`${edge.url}/metrics`)).text();
    const calls = (text: string, method: string) =>
      Number(text.split("\n").find((l) => l.startsWith("redup_edge_service_call_duration_seconds_count{") && l.includes(`method="${method}"`))?.split(" ")[1] ?? 0);

    const users = await Promise.all(
      ids.map(async (id) => {
        const user = await connectUser(edge, id);
        const got = collect<{ mensaje_id: string; message: string }>(user.socket, "receive_message");
        return { id, user, got };
      }),
    );
    for (const { id, got } of users) {
      await until(got, 2, 10_000);
      // Its own two messages, oldest first, and nothing of anyone else's.
      expect(got.map((m) => m.message)).toEqual([`p${id}-1`, `p${id}-2`]);
    }
    const confirmations = await Promise.all(
      users.flatMap(({ user, got }) => got.map((m) => call(user.socket, "mark_delivered", { mensaje_id: m.mensaje_id }))),
    );
    expect(confirmations.every((c) => c["status"] === "ok")).toBe(true);
    const pending = await stack.query("select count(*)::int as n from destinatarios_mensaje where destinatario_id = any($1::bigint[]) and entregado_en is null", [ids]);
    expect(pending).toEqual([{ n: 0 }]);

    const after = await (await fetch(`${edge.url}/metrics`)).text();
    // Fewer calls than sockets (30) and confirmations (60): the reads and marks went in batches.
    expect(calls(after, "BatchListPending") - calls(before, "BatchListPending")).toBeLessThan(30);
    expect(calls(after, "BatchListUserGroups") - calls(before, "BatchListUserGroups")).toBeLessThan(30);
    expect(calls(after, "BatchMark") - calls(before, "BatchMark")).toBeLessThan(60);
    for (const { user } of users) user.socket.disconnect();
    sender.socket.disconnect();
  });
});
