import type { Client } from "@connectrpc/connect";
import { createBatcher } from "@redup/kit";
import type { RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";

/** Whether a user is a member of a group, asked of rooms. */
export type MembershipCheck = (groupId: bigint, userId: bigint) => Promise<boolean>;

/**
 * Membership questions asked at the same time (a batch of group sends) go to rooms together,
 * as one CheckMemberships call: one round trip and one query instead of one per message.
 * Never cached: a user who left a group is refused from the next message on.
 */
export function createMembershipCheck(rooms: Client<typeof RoomsService>): MembershipCheck {
  const ask = createBatcher<{ groupId: bigint; userId: bigint }, boolean>({
    name: "membership",
    maxBatch: 1000,
    maxInFlight: 4,
    // Bounded like the stores: under overload a group send is refused (ResourceExhausted).
    maxQueued: 4096,
    run: async (checks) => (await rooms.checkMemberships({ checks })).isMember,
  });
  return (groupId, userId) => ask({ groupId, userId });
}
