/**
 * The RedUP Socket.IO protocol as TypeScript types: what a client may emit, what the server
 * emits, and the error codes. docs/protocol.md is the reference and docs/asyncapi.yaml the
 * same as AsyncAPI; a test (test/docs.test.ts) fails when an event or field is added, removed
 * or changed here and not there, or the other way round. A TypeScript client types its
 * socket with these maps:
 *
 *   import type { ClientToServerEvents, ServerToClientEvents } from "@redup/edge/events";
 *   const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, { query: { user_id: "123" } });
 *
 * Ids go out as decimal strings; clients may send them as strings or numbers.
 */

/** An id as a client may send it. */
export type IdInput = string | number;
/** An id as the server sends it: a decimal string. */
export type Id = string;

export type ChatType = "directo" | "grupal";
export type MessageKind = "texto" | "imagen" | "archivo" | "audio" | "sistema";

/** Every refusal code the edge sends, in `connect_error` data, `error` events and error callbacks. */
export const ERROR_CODES = [
  "USER_ID_REQUIRED",
  "USER_ID_INVALID",
  "UNAUTHORIZED",
  "TOO_MANY_CONNECTIONS",
  "SERVER_FULL",
  "INVALID_PAYLOAD",
  "INVALID_ID",
  "INVALID_TYPE",
  "INVALID_MESSAGE_TYPE",
  "EMPTY_MESSAGE",
  "MESSAGE_TOO_LONG",
  "MISSING_URL",
  "INVALID_URL",
  "INVALID_TIMESTAMP",
  "INVALID_CLIENT_MSG_ID",
  "SENDER_MISMATCH",
  "USER_MISMATCH",
  "NOT_A_MEMBER",
  "NOT_A_RECIPIENT",
  "NOT_THE_SENDER",
  "MESSAGE_NOT_FOUND",
  "MESSAGE_DELETED",
  "TOO_MANY_WATCHED",
  "RATE_LIMITED",
  "OVERLOADED",
  "SERVICE_UNAVAILABLE",
  "INTERNAL_ERROR",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The payload of an error callback. */
export interface ErrorReply {
  status: "error";
  code: ErrorCode;
  message: string;
  /** With OVERLOADED: how long to wait before retrying (send again with the same client_msg_id). */
  retry_after_ms?: number;
}

/** The `error` event: which event was refused, and why. */
export interface ErrorEvent {
  event: string;
  code: ErrorCode;
  message: string;
  /** With OVERLOADED: how long to wait before retrying. */
  retry_after_ms?: number;
}

export interface ConnectedEvent {
  status: "connected";
  user_id: Id;
  sid: string;
}

export interface JoinGroupPayload {
  group_id: IdInput;
}
export interface GroupJoinedReply {
  status: "ok";
  group_id: Id;
  user_id: Id;
}
export type LeaveGroupPayload = JoinGroupPayload;
export type GroupLeftReply = GroupJoinedReply;

export interface SendMessagePayload {
  to: IdInput;
  message?: string;
  sender_id?: IdInput;
  timestamp?: string;
  type: ChatType;
  message_type?: MessageKind;
  url_archivo?: string | null;
  /** [ext] Idempotency key, at most 64 characters. */
  client_msg_id?: string;
}

/** The ACK of send_message (callback and `ack` event). */
export interface SendAck {
  status: "sent";
  to: Id;
  sender_id: Id;
  timestamp: string;
  type: ChatType;
  message_type: MessageKind;
  saved_to_db: boolean;
  mensaje_id: Id | null;
  sala_chat_id: Id | null;
  message: "Mensaje enviado y guardado en BD" | "Mensaje enviado (no guardado en BD)";
  mensaje_uuid: string;
  enviado_en: string;
  client_msg_id: string | null;
}

/** A message as every recipient socket (and the sender's other sockets) receives it. */
export interface ReceivedMessage {
  from: Id;
  to: Id;
  message: string;
  type: ChatType;
  message_type: MessageKind;
  timestamp: string;
  mensaje_id: Id | null;
  mensaje_uuid: string;
  enviado_en: string;
  sala_chat_id: Id | null;
  url_archivo: string | null;
}

export interface MarkDeliveredPayload {
  mensaje_id: IdInput;
  user_id?: IdInput;
}
export interface ReceiptReply {
  status: "ok";
  mensaje_id: Id;
  user_id: Id;
}
export interface MarkReadPayload {
  mensaje_id: IdInput;
  user_id?: IdInput;
  /** [ext] true: everything the user received in the message's room up to it is read. */
  up_to?: boolean;
}
/** The reply to mark_read; with `up_to`, also the room's marker and what stays unread. */
export interface ReadReply extends ReceiptReply {
  sala_chat_id?: Id;
  read_up_to?: Id;
  unread?: number;
}
/** To every socket of a reader when their read marker of a room moves. */
export interface ReadMarkerEvent {
  sala_chat_id: Id;
  read_up_to: Id;
  unread: number;
}
export interface MessageDeliveredEvent {
  mensaje_id: Id;
  user_id: Id;
  entregado_en: string;
}
export interface MessageReadEvent {
  mensaje_id: Id;
  user_id: Id;
  leido_en: string;
}

export interface GetHistoryPayload {
  type: ChatType;
  to: IdInput;
  before_id?: IdInput | null;
  limit?: number;
}
export interface HistoryReply {
  status: "ok";
  messages: ReceivedMessage[];
  next_before_id: Id | null;
}

export interface GetConversationsPayload {
  limit?: number;
  /** The previous page's next_before. */
  before?: string | null;
}
/** A conversation's newest message: the fields of receive_message, with its edit and deletion. */
export interface LastMessage extends ReceivedMessage {
  editado_en: string | null;
  eliminado_en: string | null;
}
/** One room of the user, as an inbox shows it. */
export interface Conversation {
  sala_chat_id: Id;
  type: ChatType;
  /** The other user of a direct room, or the group. */
  to: Id;
  last_message: LastMessage | null;
  last_activity: string;
  unread: number;
  read_up_to: Id | null;
}
export interface ConversationsReply {
  status: "ok";
  conversations: Conversation[];
  next_before: string | null;
}

/** typing and typing_stop, from a client. */
export interface TypingPayload {
  type: ChatType;
  to: IdInput;
}
export interface TypingReply {
  status: "ok";
}
/** typing and typing_stop, to the other members of the conversation. */
export interface TypingEvent {
  from: Id;
  type: ChatType;
  /** The receiving user (directo) or the group (grupal). */
  to: Id;
}

export interface WatchPresencePayload {
  user_ids: IdInput[];
}
export interface PresenceEvent {
  user_id: Id;
  online: boolean;
  last_seen: string | null;
}
export interface PresenceWatchedReply {
  status: "ok";
  presences: PresenceEvent[];
}
export interface PresenceUnwatchedReply {
  status: "ok";
  user_ids: Id[];
}

export interface EditMessagePayload {
  mensaje_id: IdInput;
  message: string;
}
export interface MessageEditedReply {
  status: "ok";
  mensaje_id: Id;
  message: string;
  editado_en: string;
}
export interface DeleteMessagePayload {
  mensaje_id: IdInput;
}
export interface MessageDeletedReply {
  status: "ok";
  mensaje_id: Id;
  eliminado_en: string;
}

/** To every socket of every member of the room (the sender's too) when a message is edited. */
export interface MessageUpdatedEvent {
  mensaje_id: Id;
  sala_chat_id: Id;
  from: Id;
  type: ChatType;
  to: Id;
  /** The new text. */
  message: string;
  editado_en: string;
}
/** To every socket of every member of the room when a message is deleted (its content is gone). */
export interface MessageRemovedEvent {
  mensaje_id: Id;
  sala_chat_id: Id;
  from: Id;
  type: ChatType;
  to: Id;
  eliminado_en: string;
}

export interface SyncPayload {
  /** The cursor of the previous `synced`; absent or null: the current position (no changes). */
  since?: string | null;
  limit?: number;
}
/** One entry of the change feed. */
export interface FeedChange {
  kind: "message" | "edit" | "delete" | "delivered" | "read";
  mensaje_id: Id;
  sala_chat_id: Id;
  /** When it happened. */
  at: string;
  /** message, edit, delete: the message as it is now (edits and deletion applied). */
  message?: LastMessage;
  /** delivered, read: the recipient. */
  user_id?: Id;
}
export interface SyncedReply {
  status: "ok";
  changes: FeedChange[];
  /** Pass it as `since` next time (keep it across restarts). */
  cursor: string;
  /** More changes wait: sync again with `cursor` at once. */
  has_more: boolean;
  /** `since` is older than what the server keeps: reload the conversations and their history. */
  too_far_behind: boolean;
}

type Ack<T> = (reply: T | ErrorReply) => void;

/** Events a client emits. Every one accepts an optional acknowledgement callback. */
export interface ClientToServerEvents {
  join_group: (payload: JoinGroupPayload, ack?: Ack<GroupJoinedReply>) => void;
  leave_group: (payload: LeaveGroupPayload, ack?: Ack<GroupLeftReply>) => void;
  send_message: (payload: SendMessagePayload, ack?: Ack<SendAck>) => void;
  mark_delivered: (payload: MarkDeliveredPayload, ack?: Ack<ReceiptReply>) => void;
  mark_read: (payload: MarkReadPayload, ack?: Ack<ReadReply>) => void;
  get_history: (payload: GetHistoryPayload, ack?: Ack<HistoryReply>) => void;
  get_conversations: (payload: GetConversationsPayload, ack?: Ack<ConversationsReply>) => void;
  typing: (payload: TypingPayload, ack?: Ack<TypingReply>) => void;
  typing_stop: (payload: TypingPayload, ack?: Ack<TypingReply>) => void;
  watch_presence: (payload: WatchPresencePayload, ack?: Ack<PresenceWatchedReply>) => void;
  unwatch_presence: (payload: WatchPresencePayload, ack?: Ack<PresenceUnwatchedReply>) => void;
  sync: (payload: SyncPayload, ack?: Ack<SyncedReply>) => void;
  edit_message: (payload: EditMessagePayload, ack?: Ack<MessageEditedReply>) => void;
  delete_message: (payload: DeleteMessagePayload, ack?: Ack<MessageDeletedReply>) => void;
}

/** Events the server emits. */
export interface ServerToClientEvents {
  connected: (data: ConnectedEvent) => void;
  group_joined: (data: GroupJoinedReply) => void;
  group_left: (data: GroupLeftReply) => void;
  ack: (data: SendAck) => void;
  receive_message: (data: ReceivedMessage) => void;
  delivered: (data: ReceiptReply) => void;
  read: (data: ReadReply) => void;
  read_marker: (data: ReadMarkerEvent) => void;
  message_delivered: (data: MessageDeliveredEvent) => void;
  message_read: (data: MessageReadEvent) => void;
  history: (data: HistoryReply) => void;
  conversations: (data: ConversationsReply) => void;
  typing: (data: TypingEvent) => void;
  typing_stop: (data: TypingEvent) => void;
  presence: (data: PresenceEvent) => void;
  presence_watched: (data: PresenceWatchedReply) => void;
  presence_unwatched: (data: PresenceUnwatchedReply) => void;
  message_edited: (data: MessageEditedReply) => void;
  message_deleted: (data: MessageDeletedReply) => void;
  message_updated: (data: MessageUpdatedEvent) => void;
  message_removed: (data: MessageRemovedEvent) => void;
  synced: (data: SyncedReply) => void;
  error: (data: ErrorEvent) => void;
}

/** What the edge keeps on each socket. */
export interface SocketData {
  userId: Id;
}
