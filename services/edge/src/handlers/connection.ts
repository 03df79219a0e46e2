import { describeError } from "@redup/kit";
import type { ExtendedError } from "socket.io";
import type { EdgeContext, EdgeSocket } from "../context.js";
import type { ConnectedEvent } from "../events.js";
import { Member, type SlowConsumerPolicy, type SocketLike } from "../fanout.js";
import { toReceived } from "../protocol/format.js";
import type { HandshakeInput, Identity } from "../auth.js";
import { ProtocolError } from "../protocol/errors.js";
import { conversationHandlers } from "./conversations.js";
import { createEventTable } from "./dispatch.js";
import { groupHandlers } from "./groups.js";
import { historyHandlers } from "./history.js";
import { messageHandlers } from "./messages.js";
import { presenceHandlers } from "./presence.js";
import { receiptHandlers } from "./receipts.js";
import { syncHandlers } from "./sync.js";
import { typingHandlers } from "./typing.js";

const PAGE = 500;

function refusal(message: string, code: string): ExtendedError {
  const err = new Error(message) as ExtendedError;
  err.data = { code };
  return err;
}

/**
 * The handshake middleware: who the client is (the guide's `user_id`, or a verified JWT —
 * see auth.ts), then the connection caps. Refusals reach the client as `connect_error` with
 * the message and `data.code`; "user_id es requerido" is the guide's exact text.
 */
export function createHandshake(ctx: EdgeContext, authenticate: (input: HandshakeInput) => Promise<Identity>) {
  return (socket: EdgeSocket, done: (err?: ExtendedError) => void): void => {
    // Every handshake is counted by outcome: ok, or the refusal's code.
    const next = (err?: ExtendedError) => {
      ctx.metrics.handshakes.inc({ outcome: err ? String((err.data as { code?: unknown } | undefined)?.code ?? "error") : "ok" });
      done(err);
    };
    const { limits } = ctx.config;
    authenticate({ auth: socket.handshake.auth as Record<string, unknown> | undefined, query: socket.handshake.query })
      .then((identity) => {
        if (socket.nsp.sockets.size >= limits.maxConnections)
          return next(refusal("el servidor está lleno, reintenta más tarde", "SERVER_FULL"));
        if (ctx.fanout.socketsOf(identity.userId).size >= limits.maxSocketsPerUser)
          return next(refusal(`demasiadas conexiones abiertas para este usuario (máximo ${limits.maxSocketsPerUser})`, "TOO_MANY_CONNECTIONS"));
        socket.data.userId = identity.userId;
        if (identity.expiresAt !== undefined) expireAt(socket, identity.expiresAt);
        next();
      })
      .catch((err: unknown) => {
        if (err instanceof ProtocolError) return next(refusal(err.message, err.code));
        ctx.logger.warn({ err: describeError(err) }, "[CONNECT] handshake check failed");
        next(refusal("no se pudo verificar la identidad, reintenta", "SERVICE_UNAVAILABLE"));
      });
  };
}

/** Cuts the socket when its token expires; the client reconnects with a fresh token. */
function expireAt(socket: EdgeSocket, expiresAt: number): void {
  const delay = Math.min(Math.max(expiresAt - Date.now(), 0), 2 ** 31 - 1);
  const timer = setTimeout(() => {
    socket.emit("error", { event: "connection", code: "UNAUTHORIZED", message: "token expirado" });
    socket.disconnect(true);
  }, delay);
  socket.once("disconnect", () => clearTimeout(timer));
}

/** Every group the user belongs to, across pages. */
async function persistedGroups(ctx: EdgeContext, userId: bigint): Promise<bigint[]> {
  const groups: bigint[] = [];
  let pageToken = "";
  do {
    const page = await ctx.reads.userGroups({ userId, pageSize: 1000, pageToken });
    groups.push(...page.memberships.map((m) => m.groupId));
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return groups;
}

/** Sends the user's undelivered messages to this socket, oldest first; stops if it disconnects. */
async function catchUp(ctx: EdgeContext, member: Member, userId: bigint, connected: () => boolean): Promise<number> {
  let sent = 0;
  let after = 0n;
  while (sent < ctx.config.catchUpLimit && connected()) {
    const page = await ctx.reads.pending({ userId, afterMessageId: after, pageSize: Math.min(PAGE, ctx.config.catchUpLimit - sent) });
    if (page.messages.length === 0 || !connected()) break;
    const messages = await ctx.reads.messages(page.messages.map((m) => m.messageId));
    for (const message of messages) {
      // A deleted message is not replayed.
      if (message.deletedAt === undefined && member.emitMessage(toReceived(message))) sent++;
    }
    if (page.nextAfterMessageId === 0n) break;
    after = page.nextAfterMessageId;
  }
  return sent;
}

/** Retries `task` with backoff while the socket stays connected (at most ~1 minute). */
async function withRetries(connected: () => boolean, task: () => Promise<void>): Promise<boolean> {
  for (let attempt = 0, delay = 250; attempt < 8 && connected(); attempt++, delay = Math.min(delay * 2, 15_000)) {
    try {
      await task();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  return false;
}


/**
 * The connection handler of an edge: for each socket, after the handshake, register it for
 * fan-out and attach the client events' listeners (built once, for every socket), say
 * `connected`, then re-join persisted groups and replay pending messages before live ones.
 */
export function createConnectionHandler(ctx: EdgeContext): (socket: EdgeSocket) => void {
  const attach = createEventTable(ctx, {
    ...groupHandlers(ctx),
    ...messageHandlers(ctx),
    ...receiptHandlers(ctx),
    ...historyHandlers(ctx),
    ...conversationHandlers(ctx),
    ...typingHandlers(ctx),
    ...presenceHandlers(ctx),
    ...syncHandlers(ctx),
  });
  // One policy and one disconnect listener for every socket: nothing per socket but its Member.
  const slow: SlowConsumerPolicy = {
    maxBufferedPackets: ctx.config.limits.maxBufferedPackets,
    onSlow(member) {
      const socket = member.socket as unknown as EdgeSocket;
      if (!socket.connected) return;
      // Bounded memory: a socket that cannot keep up is cut; what it missed stays pending.
      ctx.logger.warn({ sid: member.sid, userId: member.userId, buffered: ctx.config.limits.maxBufferedPackets }, "[DISCONNECT] socket cannot keep up; disconnecting it");
      socket.disconnect(true);
    },
  };
  const onDisconnect = function (this: EdgeSocket, reason: string) {
    const member = this.data.member;
    if (!member) return;
    ctx.fanout.remove(member);
    ctx.presence.forget(member);
    if (ctx.fanout.socketsOf(member.userId).size === 0) {
      ctx.limiter.forget(member.userId);
      ctx.presenceReporter.left(member.userId);
    }
    ctx.metrics.sockets.dec();
    ctx.logger.info({ sid: member.sid, userId: member.userId, reason }, `[DISCONNECT] sid=${member.sid}`);
  };
  return (socket) => onConnection(ctx, socket, attach, slow, onDisconnect);
}

function onConnection(
  ctx: EdgeContext,
  socket: EdgeSocket,
  attach: (socket: EdgeSocket, member: Member) => void,
  slow: SlowConsumerPolicy,
  onDisconnect: (this: EdgeSocket, reason: string) => void,
): void {
  const userId = socket.data.userId;
  // The socket's fields on its log lines (not a pino child: one per socket costs memory).
  const who = { sid: socket.id, userId };
  const member = new Member(socket as unknown as SocketLike, userId, slow);
  ctx.fanout.add(member);
  if (ctx.fanout.socketsOf(userId).size === 1) ctx.presenceReporter.arrived(userId);
  ctx.metrics.sockets.inc();
  attach(socket, member);
  socket.on("disconnect", onDisconnect);
  // Socket.IO puts every socket in a room of its own id (two sets in the adapter); fan-out
  // never addresses a socket through rooms, so that memory is given back.
  void socket.leave(socket.id);

  ctx.logger.info(who, `[CONNECT] user_id=${userId} | sid=${socket.id} | unido a room='${userId}'`);
  const hello: ConnectedEvent = { status: "connected", user_id: userId, sid: socket.id };
  socket.emit("connected", hello);

  const connected = () => socket.connected;
  // Groups and catch-up are independent: a rooms outage must not hold back pending direct
  // messages, and a failed re-join is retried in the background while the socket lives.
  const rejoin = async () => {
    for (const groupId of await persistedGroups(ctx, BigInt(userId))) {
      if (connected()) ctx.fanout.joinGroup(member, String(groupId));
    }
  };
  // Catch-ups take turns (config.catchUpConcurrency at once): in a reconnect storm the edge
  // keeps answering handshakes and live traffic while replays wait, buffered per socket.
  void ctx.catchUpTurns.run(async () => {
    let joined = false;
    try {
      await rejoin();
      joined = true;
    } catch (err) {
      ctx.logger.warn({ ...who, err: describeError(err) }, "[CONNECT] could not re-join persisted groups yet; retrying");
    }
    try {
      const replayed = connected() ? await catchUp(ctx, member, BigInt(userId), connected) : 0;
      ctx.metrics.catchUp.inc(replayed);
      if (replayed > 0) ctx.logger.info({ ...who, replayed }, "[CATCH_UP] pending messages sent");
    } catch (err) {
      // Live delivery goes on; what was not replayed stays pending for the next connect.
      ctx.logger.warn({ ...who, err: describeError(err) }, "[CATCH_UP] could not replay pending messages");
    } finally {
      const { overflowed } = member.goLive();
      if (overflowed) ctx.logger.warn(who, "[CATCH_UP] live messages overflowed during catch-up; they stay pending");
    }
    if (!joined && !(await withRetries(connected, rejoin)) && connected()) {
      ctx.logger.error(who, "[CONNECT] persisted groups could not be re-joined; the client must reconnect");
    }
  });
}

