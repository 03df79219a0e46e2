import { Code } from "@connectrpc/connect";
import { describeError, onBehalfOf } from "@redup/kit";
import type { EdgeContext } from "../context.js";
import type { GroupJoinedReply } from "../events.js";
import { ProtocolError, toProtocolError } from "../protocol/errors.js";
import { asObject, parseId } from "../protocol/parse.js";
import type { EventTable } from "./dispatch.js";

/**
 * Refuses unless the user is a member of the group. Sending may trust this edge's view (a
 * local socket of the user joined; messages checks again); reading history always asks rooms,
 * which is the record (a leave on another device may not have reached this edge yet).
 */
export async function ensureMember(ctx: EdgeContext, userId: string, groupId: bigint, options: { fresh?: boolean } = {}): Promise<void> {
  if (!options.fresh && ctx.fanout.userInGroup(userId, String(groupId))) return;
  const { isMember } = await ctx.rooms.checkMembership({ groupId, userId: BigInt(userId) }, onBehalfOf(userId));
  if (!isMember) throw new ProtocolError("NOT_A_MEMBER", "no perteneces a este grupo: únete con join_group");
}

/** Applies a join/leave to the user's sockets here and, through the bus, on other edges. */
async function announce(ctx: EdgeContext, userId: string, groupId: bigint, joined: boolean): Promise<void> {
  try {
    await ctx.fanout.changeMembership(userId, String(groupId), joined);
  } catch (err) {
    // Stored in rooms and applied here; other edges catch up when those sockets reconnect.
    ctx.metrics.natsErrors.inc({ kind: "publish" });
    ctx.logger.warn({ userId, groupId: String(groupId), err: describeError(err) }, "[NATS] membership change not announced to other edges");
  }
}

export function groupHandlers(ctx: EdgeContext): EventTable {
  return {
    join_group: {
      reply: "group_joined",
      async handle(member, payload) {
        const groupId = parseId(asObject(payload)["group_id"], "group_id");
        if (ctx.config.groupPolicy === "members") {
          // Only users a backend registered through the rooms API may join (and so read or send).
          const { isMember } = await ctx.rooms.checkMembership({ groupId, userId: BigInt(member.userId) }, onBehalfOf(member.userId));
          if (!isMember) throw new ProtocolError("NOT_A_MEMBER", "este grupo solo admite miembros registrados");
        } else {
          try {
            await ctx.rooms.joinGroup({ groupId, userId: BigInt(member.userId) }, onBehalfOf(member.userId));
          } catch (err) {
            throw toProtocolError(err, { [Code.FailedPrecondition]: "NOT_A_MEMBER" });
          }
        }
        // Membership is the user's: every socket of the user, on every edge, listens to the group.
        await announce(ctx, member.userId, groupId, true);
        ctx.logger.info({ userId: member.userId, sid: member.sid, groupId: String(groupId) }, `[JOIN_GROUP] user_id=${member.userId} | sid=${member.sid} | group_id=${groupId}`);
        const reply: GroupJoinedReply = { status: "ok", group_id: String(groupId), user_id: member.userId };
        return reply;
      },
    },
    leave_group: {
      reply: "group_left",
      async handle(member, payload) {
        const groupId = parseId(asObject(payload)["group_id"], "group_id");
        await ctx.rooms.leaveGroup({ groupId, userId: BigInt(member.userId) }, onBehalfOf(member.userId));
        await announce(ctx, member.userId, groupId, false);
        ctx.logger.info({ userId: member.userId, sid: member.sid, groupId: String(groupId) }, `[LEAVE_GROUP] user_id=${member.userId} | sid=${member.sid} | group_id=${groupId}`);
        const reply: GroupJoinedReply = { status: "ok", group_id: String(groupId), user_id: member.userId };
        return reply;
      },
    },
  };
}
