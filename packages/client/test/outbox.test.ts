/**
 * The outbox survives an app restart: what waited for its ACK in a Web Storage is sent by
 * the next client on the same storage, once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@redup/kit/testing";
import type { EdgeServer } from "@redup/edge";
import { ChatError, localStorageOutbox, type OutboxEntry, type StorageLike } from "../src/index.js";
import { collect, fullHistory, online, startStack, type Stack } from "./stack.js";

/** A Web Storage kept in a Map: the interface localStorage implements, for Node. */
class MapStorage implements StorageLike {
  readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, String(value));
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
}

const entry = (id: string): OutboxEntry => ({ client_msg_id: id, payload: { to: "2", type: "directo", message: `m ${id}`, client_msg_id: id }, created_at: 1, attempts: 0 });

describe("localStorageOutbox", () => {
  it("round-trips entries under its key and forgets them when empty", async () => {
    const storage = new MapStorage();
    const outbox = localStorageOutbox("k", storage);
    expect(await outbox.load()).toEqual([]);
    await outbox.save([entry("a"), entry("b")]);
    expect(await localStorageOutbox("k", storage).load()).toEqual([entry("a"), entry("b")]);
    expect(await localStorageOutbox("other", storage).load()).toEqual([]);
    await outbox.save([]);
    expect(storage.items.has("k")).toBe(false);
  });

  it("starts empty on a corrupt or foreign value instead of failing", async () => {
    const storage = new MapStorage();
    storage.setItem("k", "{no es json");
    expect(await localStorageOutbox("k", storage).load()).toEqual([]);
    storage.setItem("k", JSON.stringify([{ nada: 1 }, entry("ok")]));
    expect(await localStorageOutbox("k", storage).load()).toEqual([entry("ok")]);
  });
});

describe("an outbox kept across a restart", () => {
  let stack: Stack;
  let edge: EdgeServer;
  beforeAll(async () => {
    stack = await startStack();
    edge = await stack.startEdge();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("is sent by the next client on the same storage, and stored once", async () => {
    const storage = new MapStorage();
    const proxy = await stack.proxy(edge);
    await proxy.cut(); // the app starts without network
    const before = stack.client(proxy.port, { auth: { user_id: "601" }, outbox: localStorageOutbox("redup.outbox", storage) });
    const sending = before.send({ to: "602", type: "directo", message: "escrito sin red" });
    const [waiting] = before.pending();
    await waitFor(() => storage.getItem("redup.outbox")?.includes(waiting!.client_msg_id), 5000, "the entry to be saved");
    before.close();
    await expect(sending).rejects.toBeInstanceOf(ChatError);
    await expect(sending).rejects.toMatchObject({ code: "CLOSED" });

    const luis = stack.client(edge.port, { auth: { user_id: "602" } });
    const received = collect(luis, "message");
    const after = stack.client(edge.port, { auth: { user_id: "601" }, outbox: localStorageOutbox("redup.outbox", storage) });
    const sent = collect(after, "sent");
    await Promise.all([online(after), online(luis)]);
    await waitFor(() => sent.length === 1 && received.length === 1, 10_000, "the restored entry to be sent and received");
    expect(sent[0]!.entry.client_msg_id).toBe(waiting!.client_msg_id);
    expect(sent[0]!.stored).toMatchObject({ client_msg_id: waiting!.client_msg_id, mensaje_id: received[0]!.mensaje_id });
    expect(after.pending()).toEqual([]);
    await waitFor(() => !storage.items.has("redup.outbox"), 5000, "the storage to be emptied");
    expect((await fullHistory(luis, "directo", "601")).map((m) => m.message)).toEqual(["escrito sin red"]);
  });
});

describe("a busy edge", () => {
  let stack: Stack;
  let edge: EdgeServer;
  let reader: EdgeServer;
  beforeAll(async () => {
    stack = await startStack();
    // Two events a second per socket: most of a burst is refused RATE_LIMITED, "not now".
    edge = await stack.startEdge({ RATE_LIMIT_EVENTS_PER_SEC: "2", RATE_LIMIT_EVENT_BURST: "2" });
    reader = await stack.startEdge();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("gets every message of a burst in the end, retried with backoff, each stored once", async () => {
    const ana = stack.client(edge.port, { auth: { user_id: "701" } });
    const sent = collect(ana, "sent");
    await online(ana);
    const texts = Array.from({ length: 6 }, (_, i) => `ráfaga ${i}`);
    const acks = await Promise.all(texts.map((message) => ana.send({ to: "702", type: "directo", message })));
    expect(new Set(acks.map((a) => a.mensaje_id)).size).toBe(6);
    expect(Math.max(...sent.map((s) => s.entry.attempts))).toBeGreaterThan(1);
    const luis = stack.client(reader.port, { auth: { user_id: "702" } });
    expect((await fullHistory(luis, "directo", "701")).map((m) => m.message)).toEqual(texts);
  });
});
