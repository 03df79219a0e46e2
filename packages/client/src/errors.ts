import type { ErrorCode, ErrorReply } from "@redup/edge/events";

/** The protocol's codes, plus the library's own: no reply in time, the connection dropped before the reply, the client was closed. */
export type ChatErrorCode = ErrorCode | "TIMEOUT" | "DISCONNECTED" | "CLOSED";

/** A request that failed: the edge's refusal (its code and Spanish message) or the library's. */
export class ChatError extends Error {
  override readonly name = "ChatError";
  readonly code: ChatErrorCode;
  /** The client event that failed, e.g. `send_message`. */
  readonly event: string;
  /** With OVERLOADED: the wait the edge asked for. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ChatErrorCode, message: string, event: string, retryAfterMs?: number) {
    super(message);
    this.code = code;
    this.event = event;
    this.retryAfterMs = retryAfterMs;
  }

  static fromReply(reply: ErrorReply, event: string): ChatError {
    return new ChatError(reply.code, reply.message, event, reply.retry_after_ms);
  }
}

// "Not now" rather than "never": the edge asks to try again later with the same client_msg_id.
const TRANSIENT: ReadonlySet<ChatErrorCode> = new Set<ChatErrorCode>(["OVERLOADED", "SERVICE_UNAVAILABLE", "RATE_LIMITED", "TIMEOUT"]);

export function isTransient(err: ChatError): boolean {
  return TRANSIENT.has(err.code);
}

export function isErrorReply(reply: unknown): reply is ErrorReply {
  return typeof reply === "object" && reply !== null && (reply as { status?: unknown }).status === "error";
}
