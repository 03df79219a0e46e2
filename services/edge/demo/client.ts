/**
 * The one place the demo gets its chat client from. The page is written against the agreed
 * API of @redup/client (issue 15: createChatClient, state, on(), send() → stored message…);
 * until that package lands, this file is a small stand-in with the same surface, so the swap
 * is this file becoming `export * from "@redup/client"`. It keeps only what the demo needs:
 * an outbox resent with the same client_msg_id after a reconnect, one `message` per
 * mensaje_id, automatic mark_delivered, and the connection state.
 */
import { io, type Socket } from "socket.io-client";
import type {
  ChatType,
  ClientToServerEvents,
  ConversationsReply,
  ErrorEvent,
  ErrorReply,
  GetHistoryPayload,
  GroupJoinedReply,
  HistoryReply,
  MessageDeliveredEvent,
  MessageReadEvent,
  MessageRemovedEvent,
  MessageUpdatedEvent,
  PresenceEvent,
  PresenceWatchedReply,
  ReadMarkerEvent,
  ReadReply,
  ReceivedMessage,
  SendAck,
  SendMessagePayload,
  ServerToClientEvents,
  TypingEvent,
} from "../src/events.js";

export type ClientStatus = "connecting" | "online" | "offline" | "reconnecting";
export interface ClientState {
  status: ClientStatus;
  reason?: string;
}

export interface ChatClientEvents {
  state: ClientState;
  message: ReceivedMessage;
  updated: MessageUpdatedEvent;
  removed: MessageRemovedEvent;
  delivered: MessageDeliveredEvent;
  read: MessageReadEvent;
  readMarker: ReadMarkerEvent;
  typing: TypingEvent & { active: boolean };
  presence: PresenceEvent;
  error: ErrorEvent;
}

export interface ChatClientOptions {
  url: string;
  auth: { user_id: string } | { token: string };
  autoMarkDelivered?: boolean;
}

export interface OutgoingMessage {
  to: string;
  type: ChatType;
  message: string;
}

/** A refusal from the server, with the protocol's code. */
export class ChatError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Listener<K extends keyof ChatClientEvents> = (data: ChatClientEvents[K]) => void;
type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

interface Pending {
  payload: SendMessagePayload;
  resolve: (ack: SendAck) => void;
  reject: (err: ChatError) => void;
  /** Which attempt is in flight; a late answer to an older attempt is ignored. */
  attempt: number;
  inFlight: boolean;
}

// Refusals that say "not now" rather than "never": the message stays in the outbox.
const TRANSIENT = new Set(["OVERLOADED", "SERVICE_UNAVAILABLE", "RATE_LIMITED", "INTERNAL_ERROR"]);
const REPLY_TIMEOUT_MS = 10_000;

// crypto.randomUUID exists only in secure contexts; the demo is often opened over plain http.
function newClientMsgId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const isError = (reply: unknown): reply is ErrorReply => (reply as ErrorReply | undefined)?.status === "error";

export function createChatClient(options: ChatClientOptions) {
  const socket: ChatSocket = io(options.url, { auth: options.auth, transports: ["websocket", "polling"], autoConnect: false });
  const listeners = new Map<keyof ChatClientEvents, Set<(data: never) => void>>();
  const outbox = new Map<string, Pending>();
  const seen = new Set<string>();
  const watched = new Set<string>();
  let closedByUser = false;
  const client = { state: { status: "connecting" } as ClientState };

  const emit = <K extends keyof ChatClientEvents>(event: K, data: ChatClientEvents[K]) => {
    for (const listener of listeners.get(event) ?? []) (listener as Listener<K>)(data);
  };
  const setState = (state: ClientState) => {
    client.state = state;
    emit("state", state);
  };

  function request<T>(event: keyof ClientToServerEvents, payload: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      // The protocol's events all take (payload, ack); one generic path for them.
      const untyped = socket.timeout(REPLY_TIMEOUT_MS) as unknown as { emit(e: string, p: unknown, cb: (err: Error | null, reply: unknown) => void): void };
      untyped.emit(event, payload, (err, reply) => {
        if (err) return reject(new ChatError("TIMEOUT", `${event}: sin respuesta`));
        if (isError(reply)) return reject(new ChatError(reply.code, reply.message));
        resolve(reply as T);
      });
    });
  }

  function attempt(id: string, pending: Pending) {
    const n = ++pending.attempt;
    pending.inFlight = true;
    request<SendAck>("send_message", pending.payload).then(
      (ack) => {
        if (n !== pending.attempt) return;
        outbox.delete(id);
        pending.resolve(ack);
      },
      (err: ChatError) => {
        if (n !== pending.attempt) return;
        pending.inFlight = false;
        if (!TRANSIENT.has(err.code) && err.code !== "TIMEOUT") {
          outbox.delete(id);
          pending.reject(err);
        } else if (client.state.status === "online") setTimeout(() => outbox.has(id) && !pending.inFlight && attempt(id, pending), 1000);
      },
    );
  }

  socket.on("connected", () => {
    setState({ status: "online" });
    if (watched.size) request("watch_presence", { user_ids: [...watched] }).catch(() => undefined);
    // Oldest first, each with the id it had: the server stores a client_msg_id once.
    for (const [id, pending] of outbox) if (!pending.inFlight) attempt(id, pending);
  });
  socket.on("disconnect", (reason) => {
    for (const pending of outbox.values()) {
      pending.inFlight = false;
      pending.attempt++;
    }
    setState(closedByUser ? { status: "offline", reason } : { status: "reconnecting", reason });
  });
  socket.on("connect_error", (err) => {
    const code = (err as Error & { data?: { code?: string } }).data?.code;
    // A refused handshake will be refused again; a network error is worth retrying.
    if (code) {
      socket.close();
      setState({ status: "offline", reason: code });
    } else setState({ status: "reconnecting", reason: err.message });
  });
  socket.on("receive_message", (m) => {
    if (m.mensaje_id) {
      if (seen.has(m.mensaje_id)) return;
      seen.add(m.mensaje_id);
      if (options.autoMarkDelivered !== false) socket.emit("mark_delivered", { mensaje_id: m.mensaje_id });
    }
    emit("message", m);
  });
  socket.on("message_delivered", (d) => emit("delivered", d));
  socket.on("message_read", (d) => emit("read", d));
  socket.on("read_marker", (d) => emit("readMarker", d));
  socket.on("message_updated", (d) => emit("updated", d));
  socket.on("message_removed", (d) => emit("removed", d));
  socket.on("typing", (d) => emit("typing", { ...d, active: true }));
  socket.on("typing_stop", (d) => emit("typing", { ...d, active: false }));
  socket.on("presence", (d) => emit("presence", d));
  socket.on("error", (d) => emit("error", d));

  return Object.assign(client, {
    connect() {
      closedByUser = false;
      setState({ status: "connecting" });
      socket.connect();
    },
    close() {
      closedByUser = true;
      socket.close();
    },
    on<K extends keyof ChatClientEvents>(event: K, listener: Listener<K>): () => void {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      set.add(listener as (data: never) => void);
      return () => set.delete(listener as (data: never) => void);
    },
    send(message: OutgoingMessage): Promise<SendAck> {
      const id = newClientMsgId();
      const payload: SendMessagePayload = { ...message, message_type: "texto", timestamp: new Date().toISOString(), client_msg_id: id };
      return new Promise((resolve, reject) => {
        const pending: Pending = { payload, resolve, reject, attempt: 0, inFlight: false };
        outbox.set(id, pending);
        if (client.state.status === "online") attempt(id, pending);
      });
    },
    pending: () => [...outbox.values()].map((p) => p.payload),
    history: (payload: GetHistoryPayload) => request<HistoryReply>("get_history", payload),
    conversations: (payload: { limit?: number; before?: string | null } = {}) => request<ConversationsReply>("get_conversations", payload),
    markRead: (mensajeId: string) => request<ReadReply>("mark_read", { mensaje_id: mensajeId }),
    // The server finds the room from the message; the room id is part of the agreed API.
    markReadUpTo: (_salaChatId: string, mensajeId: string) => request<ReadReply>("mark_read", { mensaje_id: mensajeId, up_to: true }),
    typing: (type: ChatType, to: string) => request("typing", { type, to }),
    stopTyping: (type: ChatType, to: string) => request("typing_stop", { type, to }),
    watchPresence(ids: string[]) {
      for (const id of ids) watched.add(id);
      return request<PresenceWatchedReply>("watch_presence", { user_ids: ids });
    },
    unwatchPresence(ids: string[]) {
      for (const id of ids) watched.delete(id);
      return request("unwatch_presence", { user_ids: ids });
    },
    joinGroup: (id: string) => request<GroupJoinedReply>("join_group", { group_id: id }),
    leaveGroup: (id: string) => request("leave_group", { group_id: id }),
    edit: (id: string, message: string) => request("edit_message", { mensaje_id: id, message }),
    remove: (id: string) => request("delete_message", { mensaje_id: id }),
  });
}

export type ChatClient = ReturnType<typeof createChatClient>;
