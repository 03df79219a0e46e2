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
}

export const DEFAULT_SUBJECT_PREFIX = "redup";

export function subjects(prefix: string = DEFAULT_SUBJECT_PREFIX): Subjects {
  return {
    userMessage: (id) => `${prefix}.user.${id}.message`,
    userReceipt: (id) => `${prefix}.user.${id}.receipt`,
    userMembership: (id) => `${prefix}.user.${id}.membership`,
    userAll: (id) => `${prefix}.user.${id}.>`,
    groupMessage: (id) => `${prefix}.group.${id}.message`,
    groupAll: (id) => `${prefix}.group.${id}.>`,
  };
}

