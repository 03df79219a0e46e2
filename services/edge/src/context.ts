import type { Client } from "@connectrpc/connect";
import type { Logger } from "@redup/kit";
import type { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import type { MessagesService } from "@redup/proto/redup/messages/v1/messages_pb";
import type { RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import type { DefaultEventsMap, Socket } from "socket.io";
import type { CatchUpReads } from "./catch-up-reads.js";
import type { Config } from "./config.js";
import type { MarkQueue } from "./mark-queue.js";
import type { ClientToServerEvents, ServerToClientEvents, SocketData } from "./events.js";
import type { Fanout, Member } from "./fanout.js";
import type { RateLimiter, Turns } from "./limits.js";
import type { Metrics } from "./metrics.js";
import type { PresenceReporter } from "./presence-reporter.js";
import type { PresenceWatch } from "./presence-watch.js";
import type { Typing } from "./typing.js";
import type { SendLimit } from "./send-limit.js";
import type { SendQueue } from "./send-queue.js";

/** What the edge keeps on each socket: the protocol's SocketData and the socket's fan-out record. */
export type EdgeSocketData = SocketData & { member?: Member };

export type EdgeSocket = Socket<ClientToServerEvents, ServerToClientEvents, DefaultEventsMap, EdgeSocketData>;

/** What every handler may use; built once in server.ts and passed in. */
export interface EdgeContext {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  fanout: Fanout;
  rooms: Client<typeof RoomsService>;
  messages: Client<typeof MessagesService>;
  /** The reads of connecting sockets, gathered into batch calls. */
  reads: CatchUpReads;
  /** Delivered/read confirmations, gathered into BatchMark calls. */
  marks: MarkQueue;
  /** Sends, gathered into SendMessages calls. */
  send: SendQueue;
  /** The adaptive bound on sends in progress, which keeps accepted sends fast under overload. */
  sendLimit: SendLimit;
  delivery: Client<typeof DeliveryService>;
  limiter: RateLimiter;
  /** Bounds how many sockets run their connect-time catch-up at once. */
  catchUpTurns: Turns;
  /** Typing indicators: published for the socket's user, delivered to the other members. */
  typing: Typing;
  /** The users each socket watches the presence of. */
  presence: PresenceWatch;
  /** Tells delivery which users this edge holds. */
  presenceReporter: PresenceReporter;
  /** Counts event handlers in progress, so shutdown can wait for them. */
  inflight: { count: number };
}
