/**
 * `npm start` on a bare machine: no DATABASE_URL, no NATS_URL. PGlite per service under
 * DATA_DIR and the in-process bus; the guide's flow works and data survives a restart.
 */
import { mkdtempSync, rmSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io, type Socket } from "socket.io-client";
import { afterAll, describe, expect, it } from "vitest";
import { startSystem, type System } from "../src/index.js";

const dataDir = mkdtempSync(join(tmpdir(), "redup-standalone-"));
const env = { DATA_DIR: dataDir, HOST: "127.0.0.1", PORT: "0", ROOMS_PORT: "0", MESSAGES_PORT: "0", DELIVERY_PORT: "0", LOG_LEVEL: "silent" };
const sockets: Socket[] = [];

afterAll(() => {
  for (const s of sockets) s.disconnect();
  rmSync(dataDir, { recursive: true, force: true });
});

async function connect(system: System, userId: string): Promise<Socket> {
  const socket = io(system.edge.url, { query: { user_id: userId }, transports: ["websocket"], reconnection: false, forceNew: true });
  sockets.push(socket);
  await new Promise((resolve, reject) => {
    socket.once("connected", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

describe("the embedded system", () => {
  it("runs the guide's chat on PGlite and the in-process bus, and keeps data across a restart", async () => {
    let system = await startSystem(env);
    let ackId: string;
    try {
      expect(readdirSync(dataDir).sort()).toEqual(["delivery", "messages", "rooms"]);
      const a = await connect(system, "123");
      const b = await connect(system, "789");
      const received = new Promise<Record<string, unknown>>((resolve) => b.once("receive_message", resolve));
      const ack = (await a.timeout(10_000).emitWithAck("send_message", { to: "789", message: "Hola, ¿cómo estás?", sender_id: "123", type: "directo" })) as Record<string, unknown>;
      expect(ack).toMatchObject({ status: "sent", saved_to_db: true, mensaje_id: "1", sala_chat_id: "1" });
      ackId = ack["mensaje_id"] as string;
      expect(await received).toMatchObject({ from: "123", message: "Hola, ¿cómo estás?", mensaje_id: ackId });
      await b.timeout(5000).emitWithAck("join_group", { group_id: "456" });
      await a.timeout(5000).emitWithAck("join_group", { group_id: "456" });
      const group = new Promise<Record<string, unknown>>((resolve) => b.once("receive_message", resolve));
      await a.timeout(5000).emitWithAck("send_message", { to: "456", message: "Hola a todos!", type: "grupal" });
      expect(await group).toMatchObject({ to: "456", type: "grupal" });
      a.disconnect();
      b.disconnect();
    } finally {
      await system.close();
    }

    system = await startSystem(env);
    try {
      const a = await connect(system, "123");
      const history = (await a.timeout(10_000).emitWithAck("get_history", { type: "directo", to: "789" })) as { messages: Record<string, unknown>[] };
      expect(history.messages.map((m) => [m["mensaje_id"], m["message"]])).toEqual([[ackId!, "Hola, ¿cómo estás?"]]);
      const next = (await a.timeout(10_000).emitWithAck("send_message", { to: "789", message: "después del reinicio", type: "directo" })) as Record<string, unknown>;
      expect(next["mensaje_id"]).toBe("3");
      // 789 marked nothing delivered: everything addressed to them is replayed, in order.
      const b = await connect(system, "789");
      const replay: Record<string, unknown>[] = [];
      b.on("receive_message", (m: Record<string, unknown>) => replay.push(m));
      const deadline = Date.now() + 10_000;
      while (replay.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(replay.map((m) => m["message"])).toEqual(["Hola, ¿cómo estás?", "Hola a todos!", "después del reinicio"]);
    } finally {
      await system.close();
    }
    // Two starts of three embedded PGlite databases (WASM): over 30 s on 2 busy cores.
  }, 120_000);
});
