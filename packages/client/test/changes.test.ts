/**
 * Edits and deletes reach the client as `updated` and `removed`, once each: live, and after
 * a reconnect through the change feed; a client away longer than the feed keeps changes is
 * told to reload.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@redup/kit/testing";
import type { EdgeServer } from "@redup/edge";
import { collect, online, startStack, type Stack } from "./stack.js";

describe("edits and deletes", () => {
  let stack: Stack;
  let edge: EdgeServer;
  beforeAll(async () => {
    stack = await startStack();
    edge = await stack.startEdge();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("are applied live, once each, also when the feed brings them again", async () => {
    const proxy = await stack.proxy(edge);
    const ana = stack.client(edge.port, { auth: { user_id: "501" } });
    const luis = stack.client(proxy.port, { auth: { user_id: "502" } });
    const received = collect(luis, "message");
    const updated = collect(luis, "updated");
    const removed = collect(luis, "removed");
    await Promise.all([online(ana), online(luis)]);

    const first = await ana.send({ to: "502", type: "directo", message: "primero" });
    const second = await ana.send({ to: "502", type: "directo", message: "segundo" });
    await waitFor(() => received.length === 2, 5000, "both messages");
    expect(await ana.edit(first.mensaje_id!, "primero, corregido")).toMatchObject({ status: "ok", mensaje_id: first.mensaje_id, message: "primero, corregido" });
    expect(await ana.remove(second.mensaje_id!)).toMatchObject({ status: "ok", mensaje_id: second.mensaje_id });
    await waitFor(() => updated.length === 1 && removed.length === 1, 5000, "the edit and the delete");
    expect(updated[0]).toMatchObject({ mensaje_id: first.mensaje_id, sala_chat_id: first.sala_chat_id, message: "primero, corregido", from: "501" });
    expect(removed[0]).toMatchObject({ mensaje_id: second.mensaje_id, sala_chat_id: second.sala_chat_id });

    // A reconnect reads the feed from before all this: the same message, edit and delete again.
    const before = luis.cursor;
    await proxy.cut();
    await proxy.restore();
    await waitFor(() => luis.cursor !== before, 10_000, "the feed to be read after the reconnect");
    expect([received.length, updated.length, removed.length]).toEqual([2, 1, 1]);
    // Refused changes reject with the protocol's code.
    await expect(luis.edit(first.mensaje_id!, "no es mío")).rejects.toMatchObject({ code: "NOT_THE_SENDER" });
    await expect(ana.edit(second.mensaje_id!, "tarde")).rejects.toMatchObject({ code: "MESSAGE_DELETED" });
  });

  it("made while the client was away arrive through the change feed after the reconnect", async () => {
    const proxy = await stack.proxy(edge);
    const ana = stack.client(edge.port, { auth: { user_id: "511" } });
    const luis = stack.client(proxy.port, { auth: { user_id: "512" } });
    const received = collect(luis, "message");
    const updated = collect(luis, "updated");
    const removed = collect(luis, "removed");
    await Promise.all([online(ana), online(luis)]);
    const old = await ana.send({ to: "512", type: "directo", message: "viejo" });
    await waitFor(() => received.length === 1 && luis.cursor !== undefined, 5000, "the first message and a feed cursor");

    await proxy.cut();
    const fresh = await ana.send({ to: "512", type: "directo", message: "nuevo" });
    await ana.edit(fresh.mensaje_id!, "nuevo, editado");
    await ana.remove(old.mensaje_id!);
    await proxy.restore();

    await waitFor(() => updated.length === 1 && removed.length === 1 && received.length === 2, 10_000, "the feed's changes");
    expect(received.map((m) => m.mensaje_id)).toEqual([old.mensaje_id, fresh.mensaje_id]);
    expect(received[1]!.message).toBe("nuevo, editado");
    expect(updated[0]).toMatchObject({ mensaje_id: fresh.mensaje_id, message: "nuevo, editado" });
    expect(removed[0]).toMatchObject({ mensaje_id: old.mensaje_id });
  });
});

describe("a client away longer than the feed keeps changes", () => {
  let stack: Stack;
  let edge: EdgeServer;
  beforeAll(async () => {
    stack = await startStack({ CHANGE_FEED_RETENTION_SECONDS: "2" });
    edge = await stack.startEdge();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("is told to reload, and follows the feed again from then on", async () => {
    const proxy = await stack.proxy(edge);
    const ana = stack.client(edge.port, { auth: { user_id: "521" } });
    const luis = stack.client(proxy.port, { auth: { user_id: "522" } });
    const resyncs = collect(luis, "resync");
    await Promise.all([online(ana), online(luis)]);
    await waitFor(() => luis.cursor !== undefined, 5000, "a feed cursor");
    const start = luis.cursor;

    await proxy.cut();
    const lost = await ana.send({ to: "522", type: "directo", message: "se perderá en el feed" });
    await waitFor(async () => (await stack.query("select 1 from cambios_sala where mensaje_id = $1", [lost.mensaje_id])).length === 0, 15_000, "its change to be pruned");
    await proxy.restore();

    await waitFor(() => resyncs.length === 1, 10_000, "the resync event");
    expect(resyncs[0]).toEqual({ reason: "too_far_behind" });
    expect(luis.cursor).not.toBe(start);
  });
});
