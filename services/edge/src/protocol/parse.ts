import { isMessageKind, MAX_BIGINT, MESSAGE_KINDS, SEND_LIMITS, sendRule, textRule, type SendRule } from "@redup/kit";
import type { ChatType, MessageKind } from "../events.js";
import { ProtocolError } from "./errors.js";

const CHAT_TYPES: readonly ChatType[] = ["directo", "grupal"];

/** The payload must be a plain object (not a string, array, number or null). */
export function asObject(payload: unknown): Record<string, unknown> {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload) || Buffer.isBuffer(payload)) {
    throw new ProtocolError("INVALID_PAYLOAD", "se esperaba un objeto JSON con los campos del evento");
  }
  return payload as Record<string, unknown>;
}

/** A positive BIGINT id, sent as a decimal string or a safe integer. */
export function parseId(value: unknown, field: string): bigint {
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return BigInt(value);
  if (typeof value === "string" && /^[1-9][0-9]{0,18}$/.test(value.trim())) {
    const id = BigInt(value.trim());
    if (id <= MAX_BIGINT) return id;
  }
  if (value === undefined || value === null || value === "") throw new ProtocolError("INVALID_ID", `${field} es requerido`);
  throw new ProtocolError("INVALID_ID", `${field} debe ser un entero positivo`);
}

export function optionalId(value: unknown, field: string): bigint | undefined {
  return value === undefined || value === null || value === "" ? undefined : parseId(value, field);
}

export function parseChatType(value: unknown): ChatType {
  if (typeof value === "string" && (CHAT_TYPES as readonly string[]).includes(value)) return value as ChatType;
  throw new ProtocolError("INVALID_TYPE", "type debe ser 'directo' o 'grupal'");
}

export interface SendInput {
  type: ChatType;
  to: bigint;
  text: string;
  kind: MessageKind;
  url: string | null;
  timestamp: string | null;
  clientMsgId: string | null;
}

function optionalString(value: unknown, field: string, code: ProtocolError["code"]): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new ProtocolError(code, `${field} debe ser texto`);
  return value;
}

/** The guide's wording of each send rule (the rules themselves are the kit's, shared with messages). */
function refusal(rule: SendRule, kind: MessageKind, maxLength: number): ProtocolError {
  switch (rule) {
    case "MESSAGE_TOO_LONG":
      return new ProtocolError(rule, `el mensaje supera ${maxLength} caracteres`);
    case "INVALID_TEXT":
      return new ProtocolError("INVALID_PAYLOAD", "el mensaje contiene caracteres no válidos");
    case "EMPTY_MESSAGE":
      return new ProtocolError(rule, "message es requerido y no puede estar vacío");
    case "MISSING_URL":
      return new ProtocolError(rule, `un mensaje de tipo ${kind} requiere url_archivo`);
    case "INVALID_URL":
      return new ProtocolError(rule, "url_archivo debe ser una URL http(s)");
    case "INVALID_TIMESTAMP":
      return new ProtocolError(rule, "timestamp debe ser una fecha ISO 8601");
    case "INVALID_CLIENT_MSG_ID":
      return new ProtocolError(rule, `client_msg_id debe tener entre 1 y ${SEND_LIMITS.maxClientMsgIdLength} caracteres`);
  }
}

/** Text content: bounded in characters, and without NUL (PostgreSQL text cannot hold it). */
export function parseText(value: unknown, maxLength: number): string {
  const text = optionalString(value, "message", "INVALID_PAYLOAD") ?? "";
  const rule = textRule(text, maxLength);
  if (rule) throw refusal(rule, "texto", maxLength);
  return text;
}

/** Validates send_message for a connection of `userId`; docs/protocol.md states every rule. */
export function parseSend(payload: unknown, userId: bigint, maxLength: number): SendInput {
  const p = asObject(payload);
  const type = parseChatType(p["type"]);
  const to = parseId(p["to"], "to");
  if (p["sender_id"] !== undefined && p["sender_id"] !== null) {
    let sender: bigint | undefined;
    try {
      sender = parseId(p["sender_id"], "sender_id");
    } catch {
      sender = undefined;
    }
    if (sender !== userId) throw new ProtocolError("SENDER_MISMATCH", "sender_id no coincide con el usuario de la conexión");
  }
  if (type === "directo" && to === userId) throw new ProtocolError("INVALID_ID", "no puedes enviarte un mensaje directo a ti mismo");

  const rawKind = p["message_type"] ?? "texto";
  if (!isMessageKind(rawKind)) throw new ProtocolError("INVALID_MESSAGE_TYPE", `message_type debe ser uno de: ${MESSAGE_KINDS.join(", ")}`);
  const kind = rawKind;

  const text = optionalString(p["message"], "message", "INVALID_PAYLOAD") ?? "";
  const rawUrl = optionalString(p["url_archivo"], "url_archivo", "INVALID_URL");
  const url = rawUrl === null || rawUrl.trim() === "" ? null : rawUrl.trim();
  const timestamp = optionalString(p["timestamp"], "timestamp", "INVALID_TIMESTAMP");
  const clientMsgId = optionalString(p["client_msg_id"], "client_msg_id", "INVALID_CLIENT_MSG_ID");
  const rule = sendRule({ kind, text, url: url ?? undefined, timestamp: timestamp ?? undefined, clientMsgId: clientMsgId ?? undefined }, maxLength);
  if (rule) throw refusal(rule, kind, maxLength);

  return { type, to, text, kind, url, timestamp, clientMsgId };
}
