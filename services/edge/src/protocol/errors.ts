import { Code, ConnectError } from "@connectrpc/connect";
import type { ErrorCode } from "../events.js";

/** A refusal to send to the client: a protocol code and a message in the guide's language. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  /** With OVERLOADED: how long the client should wait before retrying. */
  readonly retryAfterMs: number | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** How long an overloaded client is told to wait before retrying. */
export const OVERLOAD_RETRY_MS = 1000;

const BUSY_TEXT = "el servidor está ocupado; reintenta en unos segundos";
/**
 * One refusal shared by every shed event: under overload thousands are refused a second, and
 * a new Error each (its stack trace captured) was the edge's costliest line while shedding.
 */
const BUSY = new ProtocolError("OVERLOADED", BUSY_TEXT, { retryAfterMs: OVERLOAD_RETRY_MS });

/** Work refused early because a queue on its way is full: the client retries after a pause. */
export const overloaded = (cause?: unknown): ProtocolError =>
  cause === undefined ? BUSY : new ProtocolError("OVERLOADED", BUSY_TEXT, { cause, retryAfterMs: OVERLOAD_RETRY_MS });

/** Human-readable texts of the refusals the services decide. */
const MESSAGES: Partial<Record<ErrorCode, string>> = {
  MESSAGE_NOT_FOUND: "el mensaje no existe",
  NOT_A_RECIPIENT: "solo un destinatario del mensaje puede marcarlo",
  NOT_A_MEMBER: "no perteneces a este grupo: únete con join_group",
  NOT_THE_SENDER: "solo el remitente puede modificar el mensaje",
  MESSAGE_DELETED: "el mensaje fue eliminado",
};

/** Codes for which a service failure means "try later" rather than "you asked wrongly". */
const UNAVAILABLE = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.Aborted, Code.Canceled]);

/**
 * Maps a failed service call to the protocol: refusals the services make (not a member, not
 * a recipient...) keep their meaning; outages say so; anything else is an internal error
 * whose details stay in the logs.
 */
export function toProtocolError(err: unknown, overrides: Partial<Record<Code, ErrorCode>> = {}): ProtocolError {
  if (err instanceof ProtocolError) return err;
  if (err instanceof ConnectError) {
    const override = overrides[err.code];
    if (override) return new ProtocolError(override, MESSAGES[override] ?? err.rawMessage);
    switch (err.code) {
      case Code.InvalidArgument:
        return new ProtocolError("INVALID_PAYLOAD", err.rawMessage);
      case Code.NotFound:
        return new ProtocolError("MESSAGE_NOT_FOUND", MESSAGES.MESSAGE_NOT_FOUND!);
      case Code.PermissionDenied:
        return new ProtocolError("NOT_A_RECIPIENT", MESSAGES.NOT_A_RECIPIENT!);
      case Code.FailedPrecondition:
        return new ProtocolError("INVALID_PAYLOAD", "la base de datos rechazó la operación");
      case Code.ResourceExhausted:
        return overloaded(err);
      default:
        if (UNAVAILABLE.has(err.code)) return new ProtocolError("SERVICE_UNAVAILABLE", "servicio no disponible, reintenta más tarde");
    }
  }
  return new ProtocolError("INTERNAL_ERROR", "error interno");
}
