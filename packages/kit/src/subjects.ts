import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";

/**
 * NATS subject names, built in one place. The scheme is documented on
 * redup.delivery.v1.DeliveryService in proto/.
 */
export interface Subjects {
  /** MessageCreated for a user's direct messages (received, or sent from another device). */
  userMessage(userId: bigint | string): string;
  /** ReceiptUpdated for messages the user sent. */
  userReceipt(userId: bigint | string): string;
  /** MembershipChanged for a user's joins and leaves, so all their devices follow. */
  userMembership(userId: bigint | string): string;
  /** TypingChanged for a direct conversation, to the peer's devices. */
  userTyping(userId: bigint | string): string;
  /** ReadMarkerMoved for a user's own devices. */
  userReadMarker(userId: bigint | string): string;
  /**
   * PresenceChanged of a user, for whoever watches them: outside userAll, so an edge that both
   * holds and watches a user gets each change once.
   */
  presence(userId: bigint | string): string;
  /** TypingChanged for a group's members. */
  groupTyping(groupId: bigint | string): string;
  /** MessageChanged (an edit or a deletion) of a user's direct messages. */
  userChange(userId: bigint | string): string;
  /** MessageChanged of a group's messages. */
  groupChange(groupId: bigint | string): string;
  /** Everything addressed to one user: an edge subscribes here per user it holds. */
  userAll(userId: bigint | string): string;
  /** MessageCreated for a group's messages. */
  groupMessage(groupId: bigint | string): string;
  /** Everything addressed to one group. */
  groupAll(groupId: bigint | string): string;
  /**
   * Where a message's MessageCreated goes: its group, or both users of a direct message (the
   * recipient's devices, and the sender's other devices).
   */
  messageCreated(message: { roomType: RoomType; to: bigint; senderId: bigint }): string[];
  /** Where a message's MessageChanged goes: the same audience as its MessageCreated. */
  messageChanged(message: { roomType: RoomType; to: bigint; senderId: bigint }): string[];
  /** Who a subject built above addresses and what it carries; undefined for any other subject. */
  parse(subject: string): ParsedSubject | undefined;
}

/** A subject taken apart: `<prefix>.<scope>.<id>.<kind>`. */
export interface ParsedSubject {
  scope: "user" | "group" | "presence";
  id: string;
  kind: "message" | "change" | "receipt" | "membership" | "typing" | "readmarker" | "changed";
}

const KINDS: Record<ParsedSubject["scope"], ReadonlySet<string>> = {
  user: new Set(["message", "change", "receipt", "membership", "typing", "readmarker"]),
  group: new Set(["message", "change", "typing"]),
  presence: new Set(["changed"]),
};

export const DEFAULT_SUBJECT_PREFIX = "redup";

export function subjects(prefix: string = DEFAULT_SUBJECT_PREFIX): Subjects {
  const head = `${prefix}.`;
  return {
    userMessage: (id) => `${prefix}.user.${id}.message`,
    userReceipt: (id) => `${prefix}.user.${id}.receipt`,
    userMembership: (id) => `${prefix}.user.${id}.membership`,
    userTyping: (id) => `${prefix}.user.${id}.typing`,
    userReadMarker: (id) => `${prefix}.user.${id}.readmarker`,
    presence: (id) => `${prefix}.presence.${id}.changed`,
    groupTyping: (id) => `${prefix}.group.${id}.typing`,
    userChange: (id) => `${prefix}.user.${id}.change`,
    groupChange: (id) => `${prefix}.group.${id}.change`,
    userAll: (id) => `${prefix}.user.${id}.>`,
    groupMessage: (id) => `${prefix}.group.${id}.message`,
    groupAll: (id) => `${prefix}.group.${id}.>`,
    messageCreated: (m) =>
      m.roomType === RoomType.GRUPAL ? [`${prefix}.group.${m.to}.message`] : [`${prefix}.user.${m.to}.message`, `${prefix}.user.${m.senderId}.message`],
    messageChanged: (m) =>
      m.roomType === RoomType.GRUPAL ? [`${prefix}.group.${m.to}.change`] : [`${prefix}.user.${m.to}.change`, `${prefix}.user.${m.senderId}.change`],
    parse(subject) {
      if (!subject.startsWith(head)) return undefined;
      const [scope, id, kind, extra] = subject.slice(head.length).split(".");
      if (extra !== undefined || id === undefined || id === "" || kind === undefined) return undefined;
      if (scope !== "user" && scope !== "group" && scope !== "presence") return undefined;
      if (!KINDS[scope].has(kind)) return undefined;
      return { scope, id, kind: kind as ParsedSubject["kind"] };
    },
  };
}

