import { Code } from "@connectrpc/connect";
import type { EdgeContext, EdgeSocket } from "../context.js";
import type { GroupJoinedReply } from "../events.js";
import type { Member } from "../fanout.js";
import { ProtocolError, toProtocolError } from "../protocol/errors.js";
import { asObject, parseId } from "../protocol/parse.js";
import { onEvent } from "./dispatch.js";

/**
 * True when the user may use the group: a local socket of theirs joined it, or rooms has
 * the membership (joined from another device or edge).
 */
export async function ensureMember(ctx: EdgeContext, userId: string, groupId: bigint): Promise<void> {
  if (ctx.fanout.userInGroup(userId, String(groupId))) return;
  const { isMember } = await ctx.rooms.checkMembership({ groupId, userId: BigInt(userId) });
  if (!isMember) throw new ProtocolError("NOT_A_MEMBER", "no perteneces a este grupo: únete con join_group");
}

export function registerGroupHandlers(ctx: EdgeContext, socket: EdgeSocket, member: Member): void {
  onEvent(ctx, socket, member, "join_group", "group_joined", async (payload) => {
    const groupId = parseId(asObject(payload)["group_id"], "group_id");
    try {
      await ctx.rooms.joinGroup({ groupId, userId: BigInt(member.userId) });
    } catch (err) {
      throw toProtocolError(err, { [Code.FailedPrecondition]: "NOT_A_MEMBER" });
    }
    // Membership is the user's, so every local socket of the user listens to the group.
    for (const m of ctx.fanout.socketsOf(member.userId)) ctx.fanout.joinGroup(m, String(groupId));
    ctx.logger.info({ userId: member.userId, sid: socket.id, groupId: String(groupId) }, `[JOIN_GROUP] user_id=${member.userId} | sid=${socket.id} | group_id=${groupId}`);
    const reply: GroupJoinedReply = { status: "ok", group_id: String(groupId), user_id: member.userId };
    return reply;
  });

  onEvent(ctx, socket, member, "leave_group", "group_left", async (payload) => {
    const groupId = parseId(asObject(payload)["group_id"], "group_id");
    await ctx.rooms.leaveGroup({ groupId, userId: BigInt(member.userId) });
    for (const m of ctx.fanout.socketsOf(member.userId)) ctx.fanout.leaveGroup(m, String(groupId));
    ctx.logger.info({ userId: member.userId, sid: socket.id, groupId: String(groupId) }, `[LEAVE_GROUP] user_id=${member.userId} | sid=${socket.id} | group_id=${groupId}`);
    const reply: GroupJoinedReply = { status: "ok", group_id: String(groupId), user_id: member.userId };
    return reply;
  });
}
