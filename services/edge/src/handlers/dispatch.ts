import { SpanKind } from "@opentelemetry/api";
import { describeError, inSpan } from "@redup/kit";
import type { EdgeContext, EdgeSocket } from "../context.js";
import type { ClientToServerEvents, ErrorCode, ServerToClientEvents } from "../events.js";
import type { Member } from "../fanout.js";
import { toProtocolError } from "../protocol/errors.js";

/** Client events a socket may have waiting before new ones are refused. */
const MAX_QUEUED = 64;

/** Per socket: events are handled one at a time, in the order they arrived. */
const queues = new WeakMap<Member, { tail: Promise<void>; size: number }>();

export type Handler = (payload: unknown) => Promise<object>;

/** Emits an event by name (the typed emit wants literal names). */
const emitTo = (socket: EdgeSocket, event: string, payload: unknown) =>
  (socket as unknown as { emit(event: string, payload: unknown): boolean }).emit(event, payload);

/**
 * Registers a client event: parses out the optional ack callback, runs the handler in the
 * socket's queue, then answers with the callback and the reply event — or, on refusal, with
 * `{status:"error", code, message}` to the callback and an `error` event. A handler error
 * never reaches other sockets or the process.
 */
export function onEvent(
  ctx: EdgeContext,
  socket: EdgeSocket,
  member: Member,
  event: keyof ClientToServerEvents,
  replyEvent: keyof ServerToClientEvents | null,
  handler: Handler,
): void {
  (socket as unknown as { on(event: string, listener: (...args: unknown[]) => void): void }).on(event, (...args: unknown[]) => {
    const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (reply: unknown) => void) : undefined;
    const payload = args[0];
    const queue = queues.get(member) ?? { tail: Promise.resolve(), size: 0 };
    queues.set(member, queue);

    const refuse = (code: ErrorCode, message: string) => {
      ctx.metrics.events.inc({ event, outcome: code });
      ack?.({ status: "error", code, message });
      emitTo(socket, "error", { event, code, message });
    };
    if (!ctx.limiter.allow(member, member.userId)) {
      refuse("RATE_LIMITED", "demasiados eventos; espera un momento y reintenta");
      return;
    }
    if (queue.size >= MAX_QUEUED) {
      refuse("RATE_LIMITED", "demasiados eventos pendientes en esta conexión; espera las respuestas");
      return;
    }
    queue.size++;
    ctx.inflight.count++;
    queue.tail = queue.tail.then(async () => {
      try {
        // One trace per client event: the RPCs, SQL and NATS events it causes hang below it.
        const reply = await inSpan(`socket ${event}`, SpanKind.SERVER, { "redup.user": member.userId, "socket.id": socket.id }, () => handler(payload));
        const fallback = (reply as { saved_to_db?: boolean }).saved_to_db === false;
        ctx.metrics.events.inc({ event, outcome: fallback ? "fallback" : "ok" });
        ack?.(reply);
        if (replyEvent) emitTo(socket, replyEvent, reply);
      } catch (err) {
        const refusal = toProtocolError(err);
        if (refusal.code === "INTERNAL_ERROR") {
          ctx.logger.error({ event, sid: socket.id, userId: member.userId, err: describeError(err) }, "event failed");
        }
        refuse(refusal.code, refusal.message);
      } finally {
        queue.size--;
        ctx.inflight.count--;
      }
    });
  });
}
