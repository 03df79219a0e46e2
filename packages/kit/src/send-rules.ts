import { MessageType } from "@redup/proto/redup/messages/v1/messages_pb";
import { isHttpUrl, isIsoTimestamp } from "./validate.js";

/**
 * The rules every sent message obeys, in one place: the edge checks them on `send_message`
 * (answering the protocol's error codes, in the guide's Spanish) and the messages service
 * checks them again for every caller (answering InvalidArgument). Each side words the
 * refusal its own way; the conditions live only here.
 */

/**
 * The guide's message kinds (`message_type`, the `tipo_mensaje_enum` values), read off the
 * proto's MessageType (TEXTO → "texto"), so the mapping between them exists only here.
 */
export type MessageKind = Lowercase<Exclude<keyof typeof MessageType, "UNSPECIFIED">>;

const KIND_OF = new Map<MessageType, MessageKind>();
const TYPE_OF = new Map<MessageKind, MessageType>();
for (const [name, value] of Object.entries(MessageType)) {
  if (typeof value !== "number" || value === MessageType.UNSPECIFIED) continue;
  KIND_OF.set(value, name.toLowerCase() as MessageKind);
  TYPE_OF.set(name.toLowerCase() as MessageKind, value);
}

/** Every kind, in the proto's order. */
export const MESSAGE_KINDS: readonly MessageKind[] = [...TYPE_OF.keys()];

/** The proto enum of a kind. */
export const messageTypeOf = (kind: MessageKind): MessageType => TYPE_OF.get(kind)!;

/** The kind of a proto enum value; unspecified is the guide's default, texto; unknown values are undefined. */
export const messageKindOf = (type: MessageType): MessageKind | undefined =>
  type === MessageType.UNSPECIFIED ? "texto" : KIND_OF.get(type);

export const isMessageKind = (value: unknown): value is MessageKind => typeof value === "string" && TYPE_OF.has(value as MessageKind);

/** Limits of a sent message's fields. The text limit is configured (MAX_MESSAGE_LENGTH). */
export const SEND_LIMITS = {
  /** Longest `url_archivo`, in characters. */
  maxUrlLength: 2048,
  /** Longest `client_msg_id`, in characters. */
  maxClientMsgIdLength: 64,
  /** Longest client `timestamp`, in characters. */
  maxTimestampLength: 64,
} as const;

/** Kinds whose text may not be empty, and kinds that need a file URL. */
export const needsText = (kind: MessageKind) => kind === "texto" || kind === "sistema";
export const needsUrl = (kind: MessageKind) => kind === "imagen" || kind === "archivo" || kind === "audio";

/** Which rule a message broke. The names are the protocol's error codes. */
export type SendRule =
  | "MESSAGE_TOO_LONG"
  | "INVALID_TEXT"
  | "EMPTY_MESSAGE"
  | "MISSING_URL"
  | "INVALID_URL"
  | "INVALID_TIMESTAMP"
  | "INVALID_CLIENT_MSG_ID";

/** Characters as a person counts them (code points), not UTF-16 units. */
export function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** A text's own rule: bounded in characters, and no NUL (PostgreSQL text cannot hold it). */
export function textRule(text: string, maxLength: number): SendRule | undefined {
  if (text.length > maxLength * 2 || charCount(text) > maxLength) return "MESSAGE_TOO_LONG";
  if (text.includes("\u0000")) return "INVALID_TEXT";
  return undefined;
}

/** What a message carries, as both sides see it once parsed (absent fields are undefined). */
export interface SendContent {
  kind: MessageKind;
  text: string;
  url: string | undefined;
  timestamp: string | undefined;
  clientMsgId: string | undefined;
}

/** The first rule the message breaks, or undefined when it may be sent. */
export function sendRule(content: SendContent, maxLength: number): SendRule | undefined {
  const text = textRule(content.text, maxLength);
  if (text) return text;
  if (needsText(content.kind) && content.text.trim() === "") return "EMPTY_MESSAGE";
  if (content.url === undefined) {
    if (needsUrl(content.kind)) return "MISSING_URL";
  } else if (content.url.length > SEND_LIMITS.maxUrlLength || !isHttpUrl(content.url)) {
    return "INVALID_URL";
  }
  if (content.timestamp !== undefined && (content.timestamp.length > SEND_LIMITS.maxTimestampLength || !isIsoTimestamp(content.timestamp)))
    return "INVALID_TIMESTAMP";
  const id = content.clientMsgId;
  if (id !== undefined && (id.length === 0 || id.length > SEND_LIMITS.maxClientMsgIdLength || id.includes("\u0000"))) return "INVALID_CLIENT_MSG_ID";
  return undefined;
}
