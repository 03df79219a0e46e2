import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SpanKind } from "@opentelemetry/api";
import { describeError, tracer, tracingEnabled, type BusSubscription, type EventBus, type Logger, type Subjects } from "@redup/kit";
import { MembershipChangedSchema, MessageCreatedSchema, ReceiptKind, ReceiptUpdatedSchema } from "@redup/proto/redup/events/v1/events_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import type { Message } from "@redup/proto/redup/messages/v1/messages_pb";
import type { ReceivedMessage } from "./events.js";
import type { Metrics } from "./metrics.js";
import { isoUtc, toReceived } from "./protocol/format.js";

/** How many message UUIDs each socket remembers, so a message reaches it once. */
const SEEN_PER_SOCKET = 2048;
/** Live messages held for a socket while its catch-up runs; beyond this they wait for the next connect. */
const MAX_BUFFERED = 10_000;

/** What fan-out needs of a socket: its identity, a way to emit, and its write backlog. */
export interface SocketLike {
  id: string;
  emit(event: string, payload: unknown): unknown;
  /** The Engine.IO connection; its writeBuffer holds packets not yet sent. */
  conn?: { writeBuffer?: unknown[] };
}

/**
 * One connected socket as fan-out sees it: which user and groups it listens for, which
 * messages it already got, and a buffer that holds live messages until catch-up is done so
 * pending messages arrive first, oldest first.
 */
export class Member {
  readonly groups = new Set<string>();
  private readonly seen = new Set<string>();
  private buffer: ReceivedMessage[] | null = [];
  private overflowed = false;

  constructor(
    readonly socket: SocketLike,
    readonly userId: string,
    /** Cuts a socket that cannot keep up; its messages stay pending for catch-up. */
    private readonly slow: { maxBufferedPackets: number; onSlow: () => void } = { maxBufferedPackets: Infinity, onSlow: () => {} },
  ) {}

  get sid(): string {
    return this.socket.id;
  }

  /** Emits receive_message unless this socket already got the message, or cannot keep up. */
  emitMessage(message: ReceivedMessage): boolean {
    if (this.seen.has(message.mensaje_uuid)) return false;
    if ((this.socket.conn?.writeBuffer?.length ?? 0) >= this.slow.maxBufferedPackets) {
      this.slow.onSlow();
      return false;
    }
    this.seen.add(message.mensaje_uuid);
    if (this.seen.size > SEEN_PER_SOCKET) this.seen.delete(this.seen.values().next().value!);
    this.socket.emit("receive_message", message);
    return true;
  }

  /** A live message: emitted now, or held while catch-up runs. */
  deliver(message: ReceivedMessage): void {
    if (this.buffer === null) {
      this.emitMessage(message);
    } else if (this.buffer.length < MAX_BUFFERED) {
      this.buffer.push(message);
    } else {
      this.overflowed = true;
    }
  }

  /** Ends catch-up: emits what arrived meanwhile, in arrival order. */
  goLive(): { overflowed: boolean } {
    const held = this.buffer ?? [];
    this.buffer = null;
    for (const message of held) this.emitMessage(message);
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
  /** True when a local socket of the user has joined the group. */
  userInGroup(userId: string, groupId: string): boolean;
  /**
   * Publishes a message's live event from the edge: for a message that could not be stored
   * (the fallback), or one stored while delivery could not publish it.
   */
  publishMessage(message: Message, origin: string): Promise<void>;
  /** Applies a membership change to the user's local sockets now, and tells the other edges. */
  changeMembership(userId: string, groupId: string, joined: boolean): Promise<void>;
  /** The opaque origin tag of a socket, carried by the events of messages it sends. */
  originOf(member: Member): string;
  /** Subjects this edge is subscribed to now. */
  readonly subscriptionCount: number;
  close(): void;
}

export function createFanout(deps: { bus: EventBus; subjects: Subjects; prefix: string; edgeId: string; logger: Logger; metrics: Metrics }): Fanout {
  const { bus, subjects, logger, metrics } = deps;
  const users = new Map<string, Set<Member>>();
  const groups = new Map<string, Set<Member>>();
  const subscriptions = new Map<string, BusSubscription>();
  const origin = (member: Member) => `${deps.edgeId}/${member.sid}`;
  const empty: ReadonlySet<Member> = new Set();

  const deliverMessage = (targets: Set<Member> | undefined, data: Uint8Array) => {
    if (!targets || targets.size === 0) return;
    const event = fromBinary(MessageCreatedSchema, data);
    if (!event.message) return;
    const received = toReceived(event.message);
    for (const member of targets) {
      // The sending socket gets the ACK instead.
      if (event.origin !== "" && event.origin === origin(member)) continue;
      member.deliver(received);
    }
  };

  const deliverReceipt = (targets: Set<Member> | undefined, data: Uint8Array) => {
    if (!targets || targets.size === 0) return;
    const receipt = fromBinary(ReceiptUpdatedSchema, data);
    const at = isoUtc(receipt.at);
    const [event, payload] =
      receipt.kind === ReceiptKind.READ
        ? ["message_read", { mensaje_id: String(receipt.messageId), user_id: String(receipt.recipientId), leido_en: at }]
        : ["message_delivered", { mensaje_id: String(receipt.messageId), user_id: String(receipt.recipientId), entregado_en: at }];
    for (const member of targets) member.socket.emit(event, payload);
  };

  const applyMembership = (userId: string, groupId: string, joined: boolean) => {
    for (const member of users.get(userId) ?? empty) {
      if (joined) joinGroup(member, groupId);
      else leaveGroup(member, groupId);
    }
  };

  const onEvent = (data: Uint8Array, subject: string) => {
    const [scope, id, kind] = subject.slice(deps.prefix.length + 1).split(".");
    metrics.natsReceived.inc({ kind: `${scope}.${kind}` });
    const handle = () => {
      try {
        if (scope === "user" && kind === "message") deliverMessage(users.get(id!), data);
        else if (scope === "group" && kind === "message") deliverMessage(groups.get(id!), data);
        else if (scope === "user" && kind === "receipt") deliverReceipt(users.get(id!), data);
        else if (scope === "user" && kind === "membership") {
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
    tracer().startActiveSpan(`deliver ${scope}.${kind}`, { kind: SpanKind.CONSUMER, attributes: { "messaging.destination.name": subject } }, (span) => {
      try {
        handle();
      } finally {
        span.end();
      }
    });
  };

  const interest = (subject: string, on: boolean) => {
    if (on && !subscriptions.has(subject)) {
      subscriptions.set(subject, bus.subscribe(subject, onEvent));
    } else if (!on) {
      subscriptions.get(subject)?.unsubscribe();
      subscriptions.delete(subject);
    }
  };

  const addTo = (index: Map<string, Set<Member>>, key: string, member: Member, subject: string) => {
    let set = index.get(key);
    if (!set) {
      set = new Set();
      index.set(key, set);
      interest(subject, true);
    }
    set.add(member);
  };

  const removeFrom = (index: Map<string, Set<Member>>, key: string, member: Member, subject: string) => {
    const set = index.get(key);
    if (!set) return;
    set.delete(member);
    if (set.size === 0) {
      index.delete(key);
      interest(subject, false);
    }
  };

  const joinGroup = (member: Member, groupId: string) => {
    member.groups.add(groupId);
    addTo(groups, groupId, member, subjects.groupAll(groupId));
  };
  const leaveGroup = (member: Member, groupId: string) => {
    member.groups.delete(groupId);
    removeFrom(groups, groupId, member, subjects.groupAll(groupId));
  };

  return {
    add: (member) => addTo(users, member.userId, member, subjects.userAll(member.userId)),
    remove(member) {
      for (const groupId of member.groups) removeFrom(groups, groupId, member, subjects.groupAll(groupId));
      member.groups.clear();
      removeFrom(users, member.userId, member, subjects.userAll(member.userId));
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
    userInGroup(userId, groupId) {
      for (const member of users.get(userId) ?? empty) if (member.groups.has(groupId)) return true;
      return false;
    },
    async publishMessage(message, from) {
      const payload = toBinary(MessageCreatedSchema, create(MessageCreatedSchema, { message, origin: from }));
      if (message.roomType === RoomType.GRUPAL) {
        await bus.publish(subjects.groupMessage(message.to), payload);
      } else {
        await bus.publish(subjects.userMessage(message.to), payload);
        await bus.publish(subjects.userMessage(message.senderId), payload);
      }
    },
    originOf: origin,
    get subscriptionCount() {
      return subscriptions.size;
    },
    close() {
      for (const sub of subscriptions.values()) sub.unsubscribe();
      subscriptions.clear();
      users.clear();
      groups.clear();
    },
  };
}
