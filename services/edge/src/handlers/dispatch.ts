import { SpanKind } from "@opentelemetry/api";
import { describeError, inSpan } from "@redup/kit";
import type { EdgeContext, EdgeSocket } from "../context.js";
import type { ClientToServerEvents, ErrorCode, ServerToClientEvents } from "../events.js";
import type { Member } from "../fanout.js";
import { holdWrites } from "../packets.js";
import { overloaded, toProtocolError } from "../protocol/errors.js";
import type { SendLimit } from "../send-limit.js";

/** Client events a socket may have waiting before new ones are refused. */
const MAX_QUEUED = 64;
/** Concurrent events (confirmations) a socket may have in progress before new ones are refused. */
const MAX_CONCURRENT = 256;

/** One client event: the reply event it answers with (besides the callback), and its work. */
export interface EventHandler {
  reply: keyof ServerToClientEvents | null;
  /** Runs the event; `deadline` (a performance.now() time) is when its answer is due. */
  handle(member: Member, payload: unknown, deadline: number): Promise<object>;
  /**
   * True while the work this event needs is shedding load (a queue behind it runs behind):
   * the event is refused as OVERLOADED on arrival, before it waits for its turn, instead of
   * after — a prompt answer the client can act on, and no work spent on it.
   */
  shedding?(): boolean;
  /** An adaptive bound on these events in progress (send-limit.ts): past it, OVERLOADED. */
  limit?: SendLimit;
  /**
   * Runs on arrival instead of waiting for the socket's earlier events. For confirmations:
   * each stands alone, and a reconnect's catch-up makes a client confirm hundreds at once,
   * which in the socket's queue would each wait a round trip for the one before — holding
   * the user's next send behind them — where together they fill one or two batch calls.
   */
  concurrent?: boolean;
}

/** The edge's client events, each handled by one function for every socket. */
export type EventTable = Partial<Record<keyof ClientToServerEvents, EventHandler>>;

/** Emits an event by name (the typed emit wants literal names), gathered with the turn's other writes. */
const emitTo = (member: Member, event: string, payload: unknown) => {
  holdWrites(member.socket);
  member.socket.emit(event, payload);
};

/**
 * Runs one client event: parses out the optional ack callback, runs the handler in the
 * socket's queue (one event at a time, in arrival order; a concurrent one at once), then
 * answers with the callback and the reply event — or, on refusal, with
 * `{status:"error", code, message}` to the callback and an `error` event. A handler error
 * never reaches other sockets or the process.
 */
function run(ctx: EdgeContext, member: Member, event: string, handler: EventHandler, args: unknown[]): void {
  const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (reply: unknown) => void) : undefined;
  const payload = args[0];
  const refuse = (code: ErrorCode, message: string, retryAfterMs?: number) => {
    ctx.metrics.events.inc({ event, outcome: code });
    holdWrites(member.socket);
    const retry = retryAfterMs === undefined ? {} : { retry_after_ms: retryAfterMs };
    ack?.({ status: "error", code, message, ...retry });
    emitTo(member, "error", { event, code, message, ...retry });
  };
  if (!ctx.limiter.allow(member, member.userId)) {
    refuse("RATE_LIMITED", "demasiados eventos; espera un momento y reintenta");
    return;
  }
  if (handler.concurrent ? member.confirmations >= MAX_CONCURRENT : member.queued >= MAX_QUEUED) {
    refuse("RATE_LIMITED", "demasiados eventos pendientes en esta conexión; espera las respuestas");
    return;
  }
  // The edge's whole backlog is bounded, and so is the work this event would join: past
  // either, it is refused now rather than answered late.
  const full = ctx.inflight.count >= ctx.config.maxPendingEvents;
  const backlogged = !full && (handler.shedding?.() === true || handler.limit?.open() === false);
  if (full || backlogged) {
    ctx.metrics.shed.inc({ queue: backlogged ? "arrival" : "events" });
    const busy = overloaded();
    refuse(busy.code, busy.message, busy.retryAfterMs);
    return;
  }
  if (!handler.concurrent) member.queued++;
  ctx.inflight.count++;
  const arrived = performance.now();
  const deadline = arrived + ctx.config.maxEventWaitMs;
  const execute = async () => {
    // Set when the event took a place under its handler's limit; the answer's latency, if answered.
    let started: number | undefined;
    let answeredIn: number | undefined;
    try {
      // Its turn came too late to be answered in time: refused rather than run late.
      if (performance.now() > deadline) {
        ctx.metrics.shed.inc({ queue: "wait" });
        throw overloaded();
      }
      if (handler.limit) {
        if (!handler.limit.start()) {
          ctx.metrics.shed.inc({ queue: "limit" });
          throw overloaded();
        }
        started = performance.now();
      }
      // One trace per client event: the RPCs, SQL and NATS events it causes hang below it.
      const reply = await inSpan(`socket ${event}`, SpanKind.SERVER, { "redup.user": member.userId, "socket.id": member.sid }, () => handler.handle(member, payload, deadline));
      answeredIn = started === undefined ? undefined : performance.now() - started;
      const fallback = (reply as { saved_to_db?: boolean }).saved_to_db === false;
      ctx.metrics.events.inc({ event, outcome: fallback ? "fallback" : "ok" });
      holdWrites(member.socket);
      ack?.(reply);
      if (handler.reply) emitTo(member, handler.reply, reply);
    } catch (err) {
      const refusal = toProtocolError(err);
      if (refusal.code === "INTERNAL_ERROR") {
        ctx.logger.error({ event, sid: member.sid, userId: member.userId, err: describeError(err) }, "event failed");
      }
      refuse(refusal.code, refusal.message, refusal.retryAfterMs);
    } finally {
      if (started !== undefined) handler.limit?.finish(answeredIn);
      if (!handler.concurrent) member.queued--;
      ctx.inflight.count--;
      ctx.metrics.eventDuration.observe({ event }, (performance.now() - arrived) / 1000);
    }
  };
  if (handler.concurrent) {
    member.confirm(execute());
    return;
  }
  // Read-your-writes: an event sees the effect of every confirmation sent before it (an
  // unread count asked after mark_read counts the read).
  const before = member.confirmationsSettled();
  member.queue = (member.queue ?? Promise.resolve()).then(async () => {
    await before;
    await execute();
  });
}

/**
 * Builds the edge's listeners once: one function per client event, shared by every socket
 * (Socket.IO calls it with the socket as `this`), instead of a closure per event per socket —
 * memory that a socket otherwise holds for its whole life. `attach` registers them on a new
 * socket.
 */
export function createEventTable(ctx: EdgeContext, table: EventTable): (socket: EdgeSocket, member: Member) => void {
  const listeners = Object.entries(table).map(([event, handler]) => {
    const listener = function (this: EdgeSocket, ...args: unknown[]) {
      const member = this.data.member;
      if (member) run(ctx, member, event, handler, args);
    };
    return [event, listener] as const;
  });
  return (socket, member) => {
    socket.data.member = member;
    for (const [event, listener] of listeners) (socket as unknown as { on(event: string, listener: (...args: unknown[]) => void): void }).on(event, listener);
  };
}
