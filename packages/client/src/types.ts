/**
 * The public types of @redup/client. Protocol shapes come from the edge's event maps
 * (`@redup/edge/events`, a type-only import: nothing of the edge reaches the bundle); this
 * file only adds what the library itself introduces.
 */
import type { ManagerOptions, SocketOptions } from "socket.io-client";
import type {
  ChatType,
  Conversation,
  ErrorEvent,
  GetHistoryPayload,
  HistoryReply,
  IdInput,
  MessageDeletedReply,
  MessageDeliveredEvent,
  MessageEditedReply,
  MessageKind,
  MessageReadEvent,
  MessageRemovedEvent,
  MessageUpdatedEvent,
  PresenceEvent,
  ReadMarkerEvent,
  ReadReply,
  ReceivedMessage,
  SendAck,
  SendMessagePayload,
} from "@redup/edge/events";
import type { ChatError } from "./errors.js";
import type { OutboxEntry, OutboxStore } from "./outbox.js";

export type {
  ChatType,
  Conversation,
  ConversationsReply,
  ErrorCode,
  GetHistoryPayload,
  HistoryReply,
  Id,
  IdInput,
  LastMessage,
  MessageDeletedReply,
  MessageDeliveredEvent,
  MessageEditedReply,
  MessageKind,
  MessageReadEvent,
  MessageRemovedEvent,
  MessageUpdatedEvent,
  PresenceEvent,
  ReadMarkerEvent,
  ReadReply,
  ReceivedMessage,
  SendAck,
} from "@redup/edge/events";

/** A refusal as the edge sends it in its `error` event: `{event, code, message, retry_after_ms?}`. */
export type ProtocolError = ErrorEvent;

/** What `send()` resolves with: the edge's ACK (`mensaje_id`, `sala_chat_id`, `enviado_en`, …). */
export type StoredMessage = SendAck;

/** The handshake identity, as the protocol names it: a `user_id` (development) or a JWT. */
export type ChatAuth = { user_id: string } | { token: string; user_id?: string };

export interface ChatClientOptions {
  /** The edge's base URL, e.g. `http://localhost:5000`. */
  url: string;
  auth: ChatAuth;
  /** Called when the edge refuses or expires the token; the client reconnects with what it returns. */
  refreshToken?: () => Promise<string>;
  /** Where unacknowledged messages wait; in memory by default (see `localStorageOutbox`). */
  outbox?: OutboxStore;
  /** Confirm every received message with `mark_delivered` (default true). */
  autoMarkDelivered?: boolean;
  /** A change-feed cursor kept from a previous run (`client.cursor`); without it the feed starts now. */
  cursor?: string;
  /** How long a request waits for its reply before failing with TIMEOUT (default 10 s). */
  requestTimeoutMs?: number;
  /** Passed to socket.io-client (transports, path, reconnection delays, …). */
  socket?: Partial<ManagerOptions & SocketOptions>;
}

export type ConnectionStatus = "connecting" | "online" | "offline" | "reconnecting";

/** Where the connection stands, and why when it is not online (a disconnect reason or refusal code). */
export interface ConnectionState {
  status: ConnectionStatus;
  reason?: string;
}

export interface SendInput {
  /** The other user (`directo`) or the group (`grupal`). */
  to: IdInput;
  type: ChatType;
  message: string;
  message_type?: MessageKind;
  url_archivo?: string | null;
  timestamp?: string;
  /** The idempotency key; generated when absent (pass your own to show the message before its ACK). */
  client_msg_id?: string;
}

export interface TypingChange {
  from: string;
  type: ChatType;
  to: string;
  /** true: `typing`; false: `typing_stop` (sent by the typer, or expired). */
  active: boolean;
}

export interface ChatEvents {
  state(state: ConnectionState): void;
  /**
   * A message of one of the user's rooms not sent by this client: once per `mensaje_id`, in
   * room order; the rare one that arrives after newer ones of its room is marked `late`.
   */
  message(message: ChatMessage): void;
  updated(event: MessageUpdatedEvent): void;
  removed(event: MessageRemovedEvent): void;
  /** A recipient confirmed one of the user's messages. */
  delivered(event: MessageDeliveredEvent): void;
  read(event: MessageReadEvent): void;
  /** The user's own read marker of a room moved (on any device): set the room's badge to `unread`. */
  readMarker(event: ReadMarkerEvent): void;
  typing(event: TypingChange): void;
  presence(event: PresenceEvent): void;
  /** An outbox entry got its ACK (also entries restored from the outbox store after a restart). */
  sent(event: { entry: OutboxEntry; stored: StoredMessage }): void;
  /** An outbox entry was refused and dropped (also entries restored after a restart). */
  failed(event: { entry: OutboxEntry; error: ChatError }): void;
  /** The change feed cannot resume (the client was away too long): reload conversations and history. */
  resync(event: { reason: "too_far_behind" }): void;
  /** A refusal the edge reported on its `error` event (requests also reject with it). */
  error(event: ProtocolError): void;
}

/**
 * A received message as the `message` event gives it. `late: true` marks one older (lower
 * `mensaje_id`) than a message of the same room already given: the change feed brought it
 * after newer ones, because its transaction was still open when the feed was first read.
 * It is given anyway, never dropped: place it by `mensaje_id`, not at the end.
 */
export type ChatMessage = ReceivedMessage & { late?: true };

export interface ConversationsOptions {
  /** 1 to 100, 20 by default. */
  limit?: number;
  /** The previous page's `next_before`. */
  before?: string | null;
}

export interface ChatClient {
  readonly state: ConnectionState;
  /** The connected user, once the edge said `connected`. */
  readonly userId: string | undefined;
  /** The change-feed position; keep it across restarts and pass it back as `options.cursor`. */
  readonly cursor: string | undefined;
  connect(): void;
  close(): void;
  on<E extends keyof ChatEvents>(event: E, listener: ChatEvents[E]): () => void;
  send(input: SendInput): Promise<StoredMessage>;
  pending(): OutboxEntry[];
  /** One page of a conversation, newest first (the protocol's `get_history`: `{type, to, before_id?, limit?}`). */
  history(query: GetHistoryPayload): Promise<Omit<HistoryReply, "status">>;
  conversations(options?: ConversationsOptions): Promise<{ conversations: Conversation[]; next_before: string | null }>;
  markRead(mensajeId: IdInput): Promise<ReadReply>;
  /**
   * Everything the user received in the room up to the message is read (the protocol's `up_to`).
   * The edge finds the room from the message; `salaChatId` is checked against its answer.
   */
  markReadUpTo(salaChatId: IdInput, mensajeId: IdInput): Promise<ReadReply>;
  typing(type: ChatType, to: IdInput): void;
  stopTyping(type: ChatType, to: IdInput): void;
  watchPresence(userIds: IdInput[]): Promise<PresenceEvent[]>;
  unwatchPresence(userIds: IdInput[]): Promise<void>;
  joinGroup(groupId: IdInput): Promise<void>;
  leaveGroup(groupId: IdInput): Promise<void>;
  edit(mensajeId: IdInput, message: string): Promise<MessageEditedReply>;
  remove(mensajeId: IdInput): Promise<MessageDeletedReply>;
}

export type { SendMessagePayload };
