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
  /** Who a subject built above addresses and what it carries; undefined for any other subject. */
  parse(subject: string): ParsedSubject | undefined;
}

/** A subject taken apart: `<prefix>.<scope>.<id>.<kind>`. */
export interface ParsedSubject {
  scope: "user" | "group";
  id: string;
  kind: "message" | "receipt" | "membership";
}

const KINDS = new Set(["message", "receipt", "membership"]);

export const DEFAULT_SUBJECT_PREFIX = "redup";

export function subjects(prefix: string = DEFAULT_SUBJECT_PREFIX): Subjects {
  const head = `${prefix}.`;
  return {
    userMessage: (id) => `${prefix}.user.${id}.message`,
    userReceipt: (id) => `${prefix}.user.${id}.receipt`,
    userMembership: (id) => `${prefix}.user.${id}.membership`,
    userAll: (id) => `${prefix}.user.${id}.>`,
    groupMessage: (id) => `${prefix}.group.${id}.message`,
    groupAll: (id) => `${prefix}.group.${id}.>`,
    messageCreated: (m) =>
      m.roomType === RoomType.GRUPAL ? [`${prefix}.group.${m.to}.message`] : [`${prefix}.user.${m.to}.message`, `${prefix}.user.${m.senderId}.message`],
    parse(subject) {
      if (!subject.startsWith(head)) return undefined;
      const [scope, id, kind, extra] = subject.slice(head.length).split(".");
      if (extra !== undefined || id === undefined || id === "" || kind === undefined || !KINDS.has(kind)) return undefined;
      if (scope !== "user" && scope !== "group") return undefined;
      return { scope, id, kind: kind as ParsedSubject["kind"] };
    },
  };
}

