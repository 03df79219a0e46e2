import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { SpanKind } from "@opentelemetry/api";
import { describeError, tracer, tracingEnabled, type BusSubscription, type EventBus, type Logger, type ParsedSubject, type Subjects } from "@redup/kit";
import {
  MembershipChangedSchema,
  MessageChangedSchema,
  MessageCreatedSchema,
  ReadMarkerMovedSchema,
  ReceiptKind,
  ReceiptUpdatedSchema,
  type MessageCreated,
} from "@redup/proto/redup/events/v1/events_pb";
import { MessageChangeKind, type Message } from "@redup/proto/redup/messages/v1/messages_pb";
import type { MessageRemovedEvent, MessageUpdatedEvent, ReadMarkerEvent, ReceivedMessage } from "./events.js";
import type { Metrics } from "./metrics.js";
import { holdWrites, writePacket, type EncodedPacket, type Writable } from "./packets.js";
import { isoUtc, toReceived } from "./protocol/format.js";
import { createRoomOrder, type RoomOrder } from "./room-order.js";

/** How many messages each socket remembers, so a message reaches it once. */
const SEEN_PER_SOCKET = 2048;

/** A message's key in a socket's memory: its id (short), or its uuid when it was not stored. */
export const seenKey = (id: string | bigint | null, uuid: string): string => (id === null || id === 0n || id === "0" ? uuid : String(id));
/** How long an edit or a deletion waits for its message to reach a stream before it goes anyway. */
const CHANGE_WAIT_MS = 5000;
/** Live messages held for a socket while its catch-up runs; beyond this they wait for the next connect. */
const MAX_BUFFERED = 10_000;

/** What fan-out needs of a socket: its identity, a way to emit, and its write backlog. */
export interface SocketLike extends Writable {
  id: string;
  emit(event: string, payload: unknown): unknown;
  /** The Engine.IO connection: its writeBuffer holds packets not yet sent; its transport, the TCP socket. */
  conn?: { writeBuffer?: unknown[]; transport?: { socket?: { _socket?: { cork(): void; uncork(): void } } } };
}

/** A live message on this edge: decoded once, encoded as `receive_message` once, for every socket. */
export class LiveMessage {
  private encoded: EncodedPacket | undefined;

  constructor(
    readonly message: Message,
    /** The sending connection's tag; its socket has the ACK instead. */
    readonly origin: string,
    private readonly encode: (event: string, payload: unknown) => EncodedPacket,
  ) {}

  /** The message's key in a socket's memory (seenKey). */
  get key(): string {
    return seenKey(this.message.id, this.message.uuid);
  }

  get packet(): EncodedPacket {
    return (this.encoded ??= this.encode("receive_message", toReceived(this.message)));
  }
}

/**
 * One connected socket as fan-out sees it: which user and groups it listens for, which
 * messages it already has, a buffer that holds live messages until catch-up is done (so
 * pending messages arrive first, oldest first), and its queue of client events.
 */
/** What to do with a socket whose write backlog grows past a bound; one policy per edge, for every socket. */
export interface SlowConsumerPolicy {
  maxBufferedPackets: number;
  /** Cuts the socket; what it missed stays pending for catch-up. */
  onSlow(member: Member): void;
}

const NO_LIMIT: SlowConsumerPolicy = { maxBufferedPackets: Infinity, onSlow: () => {} };
const NO_GROUPS: ReadonlySet<string> = new Set();

/**
 * One connected socket as fan-out sees it: which user and groups it listens for, which
 * messages it already has, a buffer that holds live messages until catch-up is done (so
 * pending messages arrive first, oldest first), and its queue of client events. Every field
 * is paid once per connection (19,000 on one edge), so what an idle socket does not need is
 * made only when first used.
 */
export class Member {
  private joined: Set<string> | undefined;
  private seen: Set<string> | undefined;
  private buffer: LiveMessage[] | null = [];
  private overflowed = false;
  /** Client events are handled one at a time, in arrival order (handlers/dispatch.ts). */
  queue: Promise<void> | undefined;
  queued = 0;
  /** Confirmations in progress; they do not wait in the queue (dispatch.ts, `concurrent`). */
  private confirming: Set<Promise<void>> | undefined;

  get confirmations(): number {
    return this.confirming?.size ?? 0;
  }

  /** Keeps a confirmation in progress in view until it settles. */
  confirm(running: Promise<void>): void {
    const confirming = (this.confirming ??= new Set());
    confirming.add(running);
    void running.finally(() => confirming.delete(running));
  }

  /** Settles when the confirmations now in progress have; undefined when there are none. */
  confirmationsSettled(): Promise<unknown> | undefined {
    return this.confirming?.size ? Promise.allSettled(this.confirming) : undefined;
  }

  constructor(
    readonly socket: SocketLike,
    readonly userId: string,
    private readonly slow: SlowConsumerPolicy = NO_LIMIT,
  ) {}

  /** The groups this socket listens to. */
  get groups(): ReadonlySet<string> {
    return this.joined ?? NO_GROUPS;
  }

  joinGroup(groupId: string): void {
    (this.joined ??= new Set()).add(groupId);
  }

  leaveGroup(groupId: string): void {
    this.joined?.delete(groupId);
  }

  leaveAllGroups(): void {
    this.joined = undefined;
  }

  get sid(): string {
    return this.socket.id;
  }

  /**
   * Records that this socket has a message (by seenKey) — it received it, or sent it and got
   * the ACK — so it never gets it as receive_message (again). False when it already had it.
   */
  remember(key: string): boolean {
    const seen = (this.seen ??= new Set());
    if (seen.has(key)) return false;
    seen.add(key);
    if (seen.size > SEEN_PER_SOCKET) seen.delete(seen.values().next().value!);
    return true;
  }

  private canTakeMore(): boolean {
    if ((this.socket.conn?.writeBuffer?.length ?? 0) < this.slow.maxBufferedPackets) return true;
    this.slow.onSlow(this);
    return false;
  }

  /** Emits receive_message (catch-up) unless this socket already has it, or cannot keep up. */
  emitMessage(message: ReceivedMessage): boolean {
    const key = seenKey(message.mensaje_id, message.mensaje_uuid);
    if (this.seen?.has(key) || !this.canTakeMore()) return false;
    this.remember(key);
    holdWrites(this.socket);
    this.socket.emit("receive_message", message);
    return true;
  }

  /** Writes a live message unless this socket already has it, or cannot keep up. */
  private write(live: LiveMessage): void {
    const key = live.key;
    if (this.seen?.has(key) || !this.canTakeMore()) return;
    if (writePacket(this.socket, live.packet)) this.remember(key);
  }

  /** A live message: written now, or held while catch-up runs. */
  deliver(live: LiveMessage): void {
    if (this.buffer === null) {
      this.write(live);
    } else if (this.buffer.length < MAX_BUFFERED) {
      this.buffer.push(live);
    } else {
      this.overflowed = true;
    }
  }

  /** Ends catch-up: writes what arrived meanwhile, in arrival order. */
  goLive(): { overflowed: boolean } {
    const held = this.buffer ?? [];
    this.buffer = null;
    for (const live of held) this.write(live);
    return { overflowed: this.overflowed };
  }
}

export interface Fanout {
  /** Registers a socket and subscribes to its user's subjects if it is the first here. */
  add(member: Member): void;
  /** Forgets a socket and unsubscribes what no other local socket needs. */
  remove(member: Member): void;
  joinGroup(member: Member, groupId: string): void;
  leaveGroup(member: Member, groupId: string): void;
  /** The local sockets of a user. */
  socketsOf(userId: string): ReadonlySet<Member>;
  /** Every user with a socket here. */
  heldUsers(): Iterable<string>;
  /** The local sockets listening to a group. */
  socketsInGroup(groupId: string): ReadonlySet<Member>;
  /** True when a local socket of the user has joined the group. */
  userInGroup(userId: string, groupId: string): boolean;
  /**
   * Publishes the live event of a message the edge could not store (the guide's fallback):
   * the messages service publishes every stored message's, but it is unreachable then.
   */
  publishUnsaved(message: Message, origin: string): Promise<void>;
  /** Applies a membership change to the user's local sockets now, and tells the other edges. */
  changeMembership(userId: string, groupId: string, joined: boolean): Promise<void>;
  /** The opaque origin tag of a socket, carried by the events of messages it sends. */
  originOf(member: Member): string;
  /** Subjects this edge is subscribed to now. */
  readonly subscriptionCount: number;
  close(): void;
}

export interface FanoutDeps {
  bus: EventBus;
  subjects: Subjects;
  edgeId: string;
  logger: Logger;
  metrics: Metrics;
  /** Encodes a Socket.IO event once for many sockets. */
  encode: (event: string, payload: unknown) => EncodedPacket;
  /** How long a room's message waits for an earlier one before it is fetched. */
  reorderWindowMs: number;
  /** A room's messages with ids in (afterId, beforeId), oldest first (the messages service). */
  fetchRoom(roomId: bigint, afterId: bigint, beforeId: bigint, count: number): Promise<Message[]>;
  /** A TypingChanged on a user's or group's subject (typing.ts). */
  onTyping(scope: "user" | "group", id: string, data: Uint8Array): void;
}

export function createFanout(deps: FanoutDeps): Fanout {
  const { bus, subjects, logger, metrics } = deps;
  const users = new Map<string, Set<Member>>();
  const groups = new Map<string, Set<Member>>();
  const subscriptions = new Map<string, BusSubscription>();
  const origin = (member: Member) => `${deps.edgeId}/${member.sid}`;
  const empty: ReadonlySet<Member> = new Set();
  const streamOf = (parsed: Pick<ParsedSubject, "scope" | "id">) => `${parsed.scope}:${parsed.id}`;
  const targetsOf = (stream: string) => (stream.startsWith("user:") ? users.get(stream.slice(5)) : groups.get(stream.slice(6)));

  const toSockets = (stream: string, live: LiveMessage) => {
    for (const member of targetsOf(stream) ?? empty) {
      // The sending socket gets the ACK instead.
      if (live.origin !== "" && live.origin === origin(member)) continue;
      member.deliver(live);
    }
  };

  const order: RoomOrder<LiveMessage> = createRoomOrder<LiveMessage>({
    windowMs: deps.reorderWindowMs,
    deliver: toSockets,
    count: (outcome) => metrics.roomOrder.inc({ outcome }),
    async fetch(roomId, afterId, beforeId, count) {
      const messages = await deps.fetchRoom(roomId, afterId, beforeId, count);
      return messages.map((m) => ({ id: m.id, message: m.deletedAt === undefined ? new LiveMessage(m, "", deps.encode) : undefined }));
    },
  });

  // A direct message comes twice when both its users are here (one subject each), back to
  // back: the second copy reuses the first one's decoding and encoding.
  let lastPayload: Buffer | undefined;
  let lastDecoded: { event: MessageCreated; live: LiveMessage } | undefined;
  const decodeMessage = (data: Uint8Array) => {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (lastDecoded && lastPayload?.equals(bytes)) return lastDecoded;
    const event = fromBinary(MessageCreatedSchema, data);
    if (!event.message) return undefined;
    lastPayload = Buffer.from(bytes);
    lastDecoded = { event, live: new LiveMessage(event.message, event.origin, deps.encode) };
    return lastDecoded;
  };

  const deliverMessage = (parsed: ParsedSubject, data: Uint8Array) => {
    const stream = streamOf(parsed);
    if ((targetsOf(stream)?.size ?? 0) === 0) return;
    const decoded = decodeMessage(data);
    if (!decoded) return;
    const { event, live } = decoded;
    order.accept(stream, {
      roomId: live.message.roomId,
      id: live.message.id,
      seq: event.roomSeq,
      previousSentAt: event.previousSentAt ? timestampMs(event.previousSentAt) : undefined,
      message: live,
    });
  };

  const deliverReceipt = (targets: Set<Member> | undefined, data: Uint8Array) => {
    if (!targets || targets.size === 0) return;
    const receipt = fromBinary(ReceiptUpdatedSchema, data);
    const at = isoUtc(receipt.at);
    const [event, payload] =
      receipt.kind === ReceiptKind.READ
        ? ["message_read", { mensaje_id: String(receipt.messageId), user_id: String(receipt.recipientId), leido_en: at }]
        : ["message_delivered", { mensaje_id: String(receipt.messageId), user_id: String(receipt.recipientId), entregado_en: at }];
    for (const member of targets) {
      holdWrites(member.socket);
      member.socket.emit(event, payload);
    }
  };

  const deliverReadMarker = (targets: Set<Member> | undefined, data: Uint8Array) => {
    if (!targets || targets.size === 0) return;
    const moved = fromBinary(ReadMarkerMovedSchema, data);
    const payload: ReadMarkerEvent = { sala_chat_id: String(moved.roomId), read_up_to: String(moved.readUpTo), unread: moved.unread };
    for (const member of targets) {
      holdWrites(member.socket);
      member.socket.emit("read_marker", payload);
    }
  };

  /**
   * An edit or a deletion: to every socket of the stream, the sender's included, once the
   * message itself went out on that stream (room order), encoded once for all of them.
   */
  const deliverChange = (parsed: ParsedSubject, data: Uint8Array) => {
    const stream = streamOf(parsed);
    if ((targetsOf(stream)?.size ?? 0) === 0) return;
    const change = fromBinary(MessageChangedSchema, data);
    const m = change.message;
    if (!m || (change.kind !== MessageChangeKind.EDITED && change.kind !== MessageChangeKind.DELETED)) return;
    const received = toReceived(m);
    const common = { mensaje_id: String(m.id), sala_chat_id: String(m.roomId), from: received.from, type: received.type, to: received.to };
    const [event, payload]: [string, MessageUpdatedEvent | MessageRemovedEvent] =
      change.kind === MessageChangeKind.EDITED
        ? ["message_updated", { ...common, message: m.content, editado_en: isoUtc(m.editedAt ?? change.at) }]
        : ["message_removed", { ...common, eliminado_en: isoUtc(m.deletedAt ?? change.at) }];
    let packet: EncodedPacket | undefined;
    order.after(stream, m.roomId, m.id, m.sentAt ? timestampMs(m.sentAt) : 0, CHANGE_WAIT_MS, () => {
      packet ??= deps.encode(event, payload);
      for (const member of targetsOf(stream) ?? empty) writePacket(member.socket, packet);
    });
  };

  const applyMembership = (userId: string, groupId: string, joined: boolean) => {
    for (const member of users.get(userId) ?? empty) {
      if (joined) joinGroup(member, groupId);
      else leaveGroup(member, groupId);
    }
  };

  const onEvent = (data: Uint8Array, subject: string) => {
    const parsed = subjects.parse(subject);
    if (!parsed) return;
    metrics.natsReceived.inc({ kind: `${parsed.scope}.${parsed.kind}` });
    const handle = () => {
      try {
        if (parsed.kind === "message") deliverMessage(parsed, data);
        else if (parsed.kind === "change") deliverChange(parsed, data);
        else if (parsed.scope === "user" && parsed.kind === "receipt") deliverReceipt(users.get(parsed.id), data);
        else if (parsed.scope === "user" && parsed.kind === "readmarker") deliverReadMarker(users.get(parsed.id), data);
        else if (parsed.kind === "typing" && parsed.scope !== "presence") deps.onTyping(parsed.scope, parsed.id, data);
        else if (parsed.scope === "user" && parsed.kind === "membership") {
          const change = fromBinary(MembershipChangedSchema, data);
          applyMembership(String(change.userId), String(change.groupId), change.joined);
        }
      } catch (err) {
        metrics.natsErrors.inc({ kind: "decode" });
        logger.warn({ subject, err: describeError(err) }, "[NATS] undecodable event dropped");
      }
    };
    // The sender's trace continues to the receiving sockets (the bus restored its context).
    if (!tracingEnabled()) return handle();
    tracer().startActiveSpan(`deliver ${parsed.scope}.${parsed.kind}`, { kind: SpanKind.CONSUMER, attributes: { "messaging.destination.name": subject } }, (span) => {
      try {
        handle();
      } finally {
        span.end();
      }
    });
  };

  const interest = (subject: string, stream: string, on: boolean) => {
    if (on && !subscriptions.has(subject)) {
      subscriptions.set(subject, bus.subscribe(subject, onEvent));
    } else if (!on) {
      subscriptions.get(subject)?.unsubscribe();
      subscriptions.delete(subject);
      order.forget(stream);
    }
  };

  const addTo = (index: Map<string, Set<Member>>, key: string, member: Member, subject: string, stream: string) => {
    let set = index.get(key);
    if (!set) {
      set = new Set();
      index.set(key, set);
      interest(subject, stream, true);
    }
    set.add(member);
  };

  const removeFrom = (index: Map<string, Set<Member>>, key: string, member: Member, subject: string, stream: string) => {
    const set = index.get(key);
    if (!set) return;
    set.delete(member);
    if (set.size === 0) {
      index.delete(key);
      interest(subject, stream, false);
    }
  };

  const joinGroup = (member: Member, groupId: string) => {
    member.joinGroup(groupId);
    addTo(groups, groupId, member, subjects.groupAll(groupId), streamOf({ scope: "group", id: groupId }));
  };
  const leaveGroup = (member: Member, groupId: string) => {
    member.leaveGroup(groupId);
    removeFrom(groups, groupId, member, subjects.groupAll(groupId), streamOf({ scope: "group", id: groupId }));
  };

  return {
    add: (member) => addTo(users, member.userId, member, subjects.userAll(member.userId), streamOf({ scope: "user", id: member.userId })),
    remove(member) {
      for (const groupId of member.groups) removeFrom(groups, groupId, member, subjects.groupAll(groupId), streamOf({ scope: "group", id: groupId }));
      member.leaveAllGroups();
      removeFrom(users, member.userId, member, subjects.userAll(member.userId), streamOf({ scope: "user", id: member.userId }));
    },
    joinGroup,
    leaveGroup,
    async changeMembership(userId, groupId, joined) {
      applyMembership(userId, groupId, joined);
      const payload = toBinary(
        MembershipChangedSchema,
        create(MembershipChangedSchema, { userId: BigInt(userId), groupId: BigInt(groupId), joined }),
      );
      await bus.publish(subjects.userMembership(userId), payload);
    },
    socketsOf: (userId) => users.get(userId) ?? empty,
    socketsInGroup: (groupId) => groups.get(groupId) ?? empty,
    heldUsers: () => users.keys(),
    userInGroup(userId, groupId) {
      for (const member of users.get(userId) ?? empty) if (member.groups.has(groupId)) return true;
      return false;
    },
    async publishUnsaved(message, from) {
      const payload = toBinary(MessageCreatedSchema, create(MessageCreatedSchema, { message, origin: from }));
      await bus.publish(subjects.messageCreated(message), payload);
    },
    originOf: origin,
    get subscriptionCount() {
      return subscriptions.size;
    },
    close() {
      for (const sub of subscriptions.values()) sub.unsubscribe();
      subscriptions.clear();
      for (const stream of [...users.keys()].map((id) => `user:${id}`).concat([...groups.keys()].map((id) => `group:${id}`))) order.forget(stream);
      users.clear();
      groups.clear();
    },
  };
}
