import assert from "node:assert/strict";
import { io, type Socket } from "socket.io-client";
import type { Ids } from "../context.js";
import type { Reply } from "../grpc.js";

/** What an edge check gets: the edge's URL, the users, and how to connect as one of them. */
export interface EdgeContext {
  url: string;
  ids: Ids;
  /** Connects as a or b (with its JWT when the edge requires one) and waits for `connected`. */
  connect(user: "a" | "b"): Promise<{ socket: Socket; connected: Reply }>;
  /** Whether clients present JWTs (--edge-tokens). */
  withTokens: boolean;
  /** Registers a and b as members of ids.group through RoomsService (for GROUP_POLICY=members). */
  groupMembers(): Promise<void>;
}

export interface EdgeCheck {
  name: string;
  run: (e: EdgeContext) => Promise<void>;
}

const TIMEOUT_MS = 10_000;

/**
 * The next `event` on the socket that `matches`, or a failure after a timeout. (A connecting
 * socket first gets the messages stored while its user was away, so a check waits for its own.)
 */
export function next<T = Reply>(socket: Socket, event: string, where: string, matches: (data: T) => boolean = () => true): Promise<T> {
  const waiting = new Promise<T>((resolve, reject) => {
    const listener = (data: T) => {
      if (!matches(data)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(data);
    };
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no ${event} within ${TIMEOUT_MS} ms (${where})`));
    }, TIMEOUT_MS);
    socket.on(event, listener);
  });
  // A check that fails before awaiting this must not leave a rejection nobody handles.
  waiting.catch(() => {});
  return waiting;
}

/** The receive_message carrying `text`. */
const receiving = (socket: Socket, text: string, where: string) => next(socket, "receive_message", where, (m) => m["message"] === text);

const emit = (socket: Socket, event: string, payload: unknown): Promise<Reply> => socket.timeout(TIMEOUT_MS).emitWithAck(event, payload);

export const edgeChecks: EdgeCheck[] = [
  {
    name: "a handshake without user_id is refused (connect_error)",
    run: async ({ url, withTokens }) => {
      const socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true, timeout: TIMEOUT_MS });
      try {
        const error = await next<Error & { data?: { code?: string } }>(socket, "connect_error", "handshake");
        assert.equal(error.data?.code, withTokens ? "UNAUTHORIZED" : "USER_ID_REQUIRED");
      } finally {
        socket.close();
      }
    },
  },
  {
    name: "connected, then a direct send_message is ACKed as stored and received by the peer",
    run: async ({ connect, ids }) => {
      const a = await connect("a");
      const b = await connect("b");
      try {
        assert.deepEqual([a.connected.status, a.connected.user_id, typeof a.connected.sid], ["connected", ids.a, "string"]);
        const text = `Hola, ¿cómo estás? (${ids.fresh()})`;
        const received = receiving(b.socket, text, "peer");
        const ackEvent = next(a.socket, "ack", "sender");
        const ack = await emit(a.socket, "send_message", { to: ids.b, message: text, sender_id: ids.a, timestamp: new Date().toISOString(), type: "directo", message_type: "texto" });
        assert.deepEqual([ack.status, ack.saved_to_db, ack.to, ack.sender_id, ack.message], ["sent", true, ids.b, ids.a, "Mensaje enviado y guardado en BD"]);
        assert.match(ack.mensaje_id, /^\d+$/);
        assert.deepEqual(await ackEvent, ack, "the ack event repeats the callback");
        const message = await received;
        assert.deepEqual([message.from, message.to, message.mensaje_id, message.type, message.message_type], [ids.a, ids.b, ack.mensaje_id, "directo", "texto"]);
      } finally {
        a.socket.close();
        b.socket.close();
      }
    },
  },
  {
    name: "join_group answers group_joined, and a group message reaches the other member",
    run: async ({ connect, ids, groupMembers }) => {
      await groupMembers();
      const a = await connect("a");
      const b = await connect("b");
      try {
        for (const [socket, user] of [[a.socket, ids.a], [b.socket, ids.b]] as const) {
          assert.deepEqual(await emit(socket, "join_group", { group_id: ids.group }), { status: "ok", group_id: ids.group, user_id: user });
        }
        const text = `Hola a todos! (${ids.fresh()})`;
        const received = receiving(b.socket, text, "group member");
        const ack = await emit(a.socket, "send_message", { to: ids.group, message: text, type: "grupal" });
        assert.equal(ack.saved_to_db, true);
        const message = await received;
        assert.deepEqual([message.from, message.to, message.type, message.mensaje_id], [ids.a, ids.group, "grupal", ack.mensaje_id]);
      } finally {
        a.socket.close();
        b.socket.close();
      }
    },
  },
  {
    name: "mark_delivered answers delivered, the sender gets message_delivered, get_history lists it",
    run: async ({ connect, ids }) => {
      const a = await connect("a");
      const b = await connect("b");
      try {
        const text = `¿llegó? (${ids.fresh()})`;
        const received = receiving(b.socket, text, "peer");
        const ack = await emit(a.socket, "send_message", { to: ids.b, message: text, type: "directo" });
        await received;
        const receipt = next(a.socket, "message_delivered", "sender", (r) => r["mensaje_id"] === ack.mensaje_id);
        assert.deepEqual(await emit(b.socket, "mark_delivered", { mensaje_id: ack.mensaje_id, user_id: ids.b }), { status: "ok", mensaje_id: ack.mensaje_id, user_id: ids.b });
        const delivered = await receipt;
        assert.deepEqual([delivered.mensaje_id, delivered.user_id], [ack.mensaje_id, ids.b]);
        const history = await emit(a.socket, "get_history", { type: "directo", to: ids.b, limit: 5 });
        assert.equal(history.status, "ok");
        assert.equal(history.messages[0]?.mensaje_id, ack.mensaje_id, "newest first");
      } finally {
        a.socket.close();
        b.socket.close();
      }
    },
  },
  {
    name: "a refusal answers the callback with a code and emits error; nothing is sent",
    run: async ({ connect }) => {
      const a = await connect("a");
      try {
        const errorEvent = next(a.socket, "error", "sender");
        const reply = await emit(a.socket, "send_message", { to: "no-es-un-id", message: "x", type: "directo" });
        assert.deepEqual([reply.status, reply.code], ["error", "INVALID_ID"]);
        assert.deepEqual(await errorEvent, { event: "send_message", code: "INVALID_ID", message: reply.message });
      } finally {
        a.socket.close();
      }
    },
  },
];

/** Connects one user to the edge, waiting for the server's `connected`. */
export async function connectAs(url: string, userId: string, token: string | undefined): Promise<{ socket: Socket; connected: Reply }> {
  const socket = io(url, {
    query: { user_id: userId },
    ...(token ? { auth: { token } } : {}),
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: TIMEOUT_MS,
  });
  try {
    const connected = await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connected within ${TIMEOUT_MS} ms (connect as ${userId})`)), TIMEOUT_MS);
      socket.once("connected", (data: Reply) => {
        clearTimeout(timer);
        resolve(data);
      });
      socket.once("connect_error", (e: Error & { data?: { code?: string } }) => {
        clearTimeout(timer);
        reject(new Error(`the edge refused user ${userId}: ${e.data?.code ?? e.message}`));
      });
    });
    return { socket, connected };
  } catch (err) {
    socket.close();
    throw err;
  }
}
