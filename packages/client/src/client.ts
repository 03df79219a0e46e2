import { Confirmer } from "./confirmer.js";
import { Connection } from "./connection.js";
import { Emitter } from "./emitter.js";
import { backoffDelay } from "./backoff.js";
import { ChatError, isTransient } from "./errors.js";
import { readFeed } from "./feed.js";
import { memoryOutbox } from "./outbox.js";
import { Receiver } from "./receiver.js";
import { request } from "./request.js";
import { Sender } from "./sender.js";
import type { ChatClient, ChatClientOptions, ChatEvents } from "./types.js";

const DEFAULT_TIMEOUT_MS = 10_000;
// A change enters the feed once every older transaction has ended, so one made a moment
// before the reconnect's read may be missing from it; a second read this much later has it.
const FEED_SETTLE_MS = 2000;

/**
 * A chat client over one edge connection. It wires the parts, each in its own module:
 * the connection state machine (connection.ts), the outbox (sender.ts), deduplicated ordered
 * receiving (receiver.ts) and the change feed read after every connect (feed.ts).
 * Nothing happens until `connect()`.
 */
export function createChatClient(options: ChatClientOptions): ChatClient {
  const events = new Emitter<ChatEvents>();
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const autoMarkDelivered = options.autoMarkDelivered ?? true;
  let userId: string | undefined;
  let cursor = options.cursor;
  // The presence watch list belongs to a socket on the edge: it is renewed on every connection.
  const watched = new Set<string>();
  let connectionNumber = 0;

  const connection: Connection = new Connection(options, {
    state: (state) => events.emit("state", state),
    online(id) {
      userId = id;
      connectionNumber++;
      sender.online();
      void resume(connectionNumber);
    },
    offline() {
      sender.offline();
      confirmer.reset();
    },
  });
  const socket = connection.socket;
  const call = <E extends Parameters<typeof request>[1]>(event: E, payload: Parameters<typeof request<E>>[2]) => request(socket, event, payload, timeoutMs);

  const confirmer = new Confirmer((mensajeId) => call("mark_delivered", { mensaje_id: mensajeId }));
  const receiver = new Receiver(
    {
      message: (m) => events.emit("message", m),
      updated: (e) => events.emit("updated", e),
      removed: (e) => events.emit("removed", e),
      delivered: (e) => events.emit("delivered", e),
      read: (e) => events.emit("read", e),
      confirm(mensajeId) {
        if (autoMarkDelivered) confirmer.confirm(mensajeId);
      },
    },
    () => userId,
  );

  const sender = new Sender({
    store: options.outbox ?? memoryOutbox(),
    transmit: (payload) => {
      if (!socket.connected) return Promise.reject(new ChatError("DISCONNECTED", "not connected", "send_message"));
      return call("send_message", payload);
    },
    sent(entry, stored) {
      receiver.sentByMe(stored.sala_chat_id, stored.mensaje_id);
      events.emit("sent", { entry, stored });
    },
    failed: (entry, error) => events.emit("failed", { entry, error }),
  });

  /**
   * Reads the feed from the kept cursor into the receiver; false when it could not. A busy
   * edge's "not now" is retried a few times, after the wait it asks for or a backoff.
   */
  async function catchUpFeed(number: number): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await readFeedOnce(number);
      } catch (err) {
        const retry = err instanceof ChatError && err.code !== "DISCONNECTED" && isTransient(err) && attempt < 4;
        if (!retry || number !== connectionNumber) return false;
        await new Promise((r) => setTimeout(r, err.retryAfterMs ?? backoffDelay(attempt)));
        if (number !== connectionNumber || !socket.connected) return false;
      }
    }
  }

  /** One read of the feed to its end; the cursor moves page by page. */
  async function readFeedOnce(number: number): Promise<boolean> {
    const result = await readFeed(
      (since) => call("sync", { since }),
      cursor,
      (changes, next) => {
        // A newer connection has taken over; its own reading applies the feed.
        if (number !== connectionNumber) return;
        receiver.feed(changes);
        cursor = next;
      },
    );
    if (result.tooFarBehind && number === connectionNumber) events.emit("resync", { reason: "too_far_behind" });
    return true;
  }

  /** Holds receiving while the feed is read, then releases it in room order (unless a newer connection took over). */
  async function heldRead(number: number): Promise<boolean> {
    receiver.hold();
    const ok = await catchUpFeed(number);
    if (number === connectionNumber) receiver.release();
    return ok;
  }

  /** After each connect: read the feed, and once more a moment later, each time holding what arrives meanwhile. */
  async function resume(number: number): Promise<void> {
    if (watched.size > 0) void call("watch_presence", { user_ids: [...watched] }).then((r) => r.presences.forEach((p) => events.emit("presence", p)), () => undefined);
    const first = cursor === undefined;
    const ok = await heldRead(number);
    if (ok && !first)
      setTimeout(() => {
        // What the second read brings is sorted with what arrives live during it, as in the first.
        if (number === connectionNumber && socket.connected) void heldRead(number);
      }, FEED_SETTLE_MS);
  }

  socket.on("receive_message", (m) => receiver.live(m));
  socket.on("message_updated", (e) => receiver.updated(e));
  socket.on("message_removed", (e) => receiver.removed(e));
  socket.on("message_delivered", (e) => receiver.delivered(e));
  socket.on("message_read", (e) => receiver.read(e));
  socket.on("read_marker", (e) => events.emit("readMarker", e));
  socket.on("typing", (e) => events.emit("typing", { ...e, active: true }));
  socket.on("typing_stop", (e) => events.emit("typing", { ...e, active: false }));
  socket.on("presence", (e) => events.emit("presence", e));
  socket.on("error", (e) => events.emit("error", e));

  return {
    get state() {
      return connection.state;
    },
    get userId() {
      return userId;
    },
    get cursor() {
      return cursor;
    },
    connect: () => connection.connect(),
    close() {
      sender.close();
      connection.close();
    },
    on: (event, listener) => events.on(event, listener),
    send: (input) => sender.send(input),
    pending: () => sender.pending(),
    async history(query) {
      const { status: _s, ...page } = await call("get_history", query);
      return page;
    },
    async conversations(opts = {}) {
      const { status: _s, ...page } = await call("get_conversations", opts);
      return page;
    },
    markRead: (mensajeId) => call("mark_read", { mensaje_id: mensajeId }),
    async markReadUpTo(salaChatId, mensajeId) {
      const reply = await call("mark_read", { mensaje_id: mensajeId, up_to: true });
      if (reply.sala_chat_id !== undefined && reply.sala_chat_id !== String(salaChatId))
        throw new ChatError("INVALID_ID", `message ${mensajeId} is in room ${reply.sala_chat_id}, not ${salaChatId}`, "mark_read");
      return reply;
    },
    // Typing is ephemeral: not buffered while offline, no reply awaited.
    typing: (type, to) => void socket.volatile.emit("typing", { type, to }),
    stopTyping: (type, to) => void socket.volatile.emit("typing_stop", { type, to }),
    async watchPresence(userIds) {
      const reply = await call("watch_presence", { user_ids: userIds });
      for (const id of userIds) watched.add(String(id));
      return reply.presences;
    },
    async unwatchPresence(userIds) {
      for (const id of userIds) watched.delete(String(id));
      await call("unwatch_presence", { user_ids: userIds });
    },
    async joinGroup(groupId) {
      await call("join_group", { group_id: groupId });
    },
    async leaveGroup(groupId) {
      await call("leave_group", { group_id: groupId });
    },
    edit: (mensajeId, message) => call("edit_message", { mensaje_id: mensajeId, message }),
    remove: (mensajeId) => call("delete_message", { mensaje_id: mensajeId }),
  };
}
