import type { ServiceImpl } from "@connectrpc/connect";
import { assertActingAs, actingUser, failedPrecondition, invalidArgument, notFound, pageSize, parsePageToken, permissionDenied, requireBatch, requireId, toTimestamp } from "@redup/kit";
import type { HandlerContext } from "@connectrpc/connect";
import { RoomsService, RoomType, type ListUserGroupsRequest } from "@redup/proto/redup/rooms/v1/rooms_pb";
import * as q from "./db/queries.js";
import { toMember, toRoom } from "./mappers.js";

export interface RoomsDeps {
  db: q.RoomsDb;
}

const PAGE_DEFAULT = 100;
const PAGE_MAX = 1000;

/** A call made for an end user may only touch that user's own conversations. */
function assertInPair(ctx: HandlerContext, userId: bigint, peerId: bigint): void {
  const acting = actingUser(ctx);
  if (acting !== undefined && acting !== userId && acting !== peerId) throw permissionDenied(`user ${acting} is not part of this conversation`);
}

export function createRoomsService({ db }: RoomsDeps): ServiceImpl<typeof RoomsService> {
  /** One page of a user's groups (ListUserGroups, and each request of BatchListUserGroups). */
  const listUserGroups = async (req: ListUserGroupsRequest, ctx: HandlerContext) => {
    const limit = pageSize(req.pageSize, PAGE_DEFAULT, PAGE_MAX);
    const userId = requireId(req.userId, "user_id");
    assertActingAs(ctx, userId, "list the groups");
    const rows = await q.listGroupsOf(db, userId, parsePageToken(req.pageToken), limit);
    const page = rows.slice(0, limit);
    return {
      memberships: page.map(toMember),
      nextPageToken: rows.length > limit ? String(page[page.length - 1]!.grupoId) : "",
    };
  };

  return {
    async resolveDirectRoom(req, ctx) {
      const userId = requireId(req.userId, "user_id");
      const peerId = requireId(req.peerId, "peer_id");
      if (userId === peerId) throw invalidArgument("user_id and peer_id must be different users");
      assertInPair(ctx, userId, peerId);
      const { room, created } = await q.resolveDirectRoom(db, userId, peerId);
      return { room: toRoom(room), created };
    },

    async findDirectRoom(req, ctx) {
      const userId = requireId(req.userId, "user_id");
      const peerId = requireId(req.peerId, "peer_id");
      if (userId === peerId) throw invalidArgument("user_id and peer_id must be different users");
      assertInPair(ctx, userId, peerId);
      const room = await q.findDirectRoom(db, userId, peerId);
      return { room: room ? toRoom(room) : undefined };
    },

    async resolveGroupRoom(req) {
      const { room, created } = await q.resolveGroupRoom(db, requireId(req.groupId, "group_id"));
      return { room: toRoom(room), created };
    },

    async getRoom(req) {
      const room = await q.getRoom(db, requireId(req.roomId, "room_id"));
      if (!room) throw notFound(`room ${req.roomId} does not exist`);
      return { room: toRoom(room) };
    },

    async joinGroup(req, ctx) {
      const groupId = requireId(req.groupId, "group_id");
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "join a group");
      // The room first: on an existing upred_db an unknown group fails here (FailedPrecondition)
      // before any membership is written.
      const { room } = await q.resolveGroupRoom(db, groupId);
      const { member, existed } = await q.addMember(db, groupId, userId);
      return { member: toMember(member), alreadyMember: existed, room: toRoom(room) };
    },

    async leaveGroup(req, ctx) {
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "leave a group");
      const wasMember = await q.removeMember(db, requireId(req.groupId, "group_id"), userId);
      return { wasMember };
    },

    async listGroupMembers(req) {
      const limit = pageSize(req.pageSize, PAGE_DEFAULT, PAGE_MAX);
      const rows = await q.listMembers(db, requireId(req.groupId, "group_id"), parsePageToken(req.pageToken), limit);
      const page = rows.slice(0, limit);
      return {
        members: page.map(toMember),
        nextPageToken: rows.length > limit ? String(page[page.length - 1]!.usuarioId) : "",
      };
    },

    async listUserRooms(req, ctx) {
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "list the rooms");
      const rows = await q.roomsOfUser(db, userId, q.USER_ROOMS_MAX + 1);
      if (rows.length > q.USER_ROOMS_MAX) throw failedPrecondition(`user ${userId} is in more than ${q.USER_ROOMS_MAX} rooms`);
      return {
        rooms: rows.map((r) => ({
          roomId: BigInt(r.id),
          type: r.tipo_sala === "grupal" ? RoomType.GRUPAL : RoomType.DIRECTO,
          peerOrGroupId: BigInt(r.peer),
          createdAt: toTimestamp(r.creado_en instanceof Date ? r.creado_en : new Date(String(r.creado_en))),
        })),
      };
    },

    listUserGroups,

    async batchListUserGroups(req, ctx) {
      return { responses: await Promise.all(requireBatch(req.requests, "requests", "requests").map((one) => listUserGroups(one, ctx))) };
    },

    async checkMembership(req) {
      return { isMember: await q.isMember(db, requireId(req.groupId, "group_id"), requireId(req.userId, "user_id")) };
    },

    async batchListGroupMemberIds(req) {
      const groupIds = requireBatch(req.groupIds, "group_ids", "groups").map((id, i) => requireId(id, `group_ids[${i}]`));
      const members = await q.memberIdsOf(db, [...new Set(groupIds)]);
      return { groups: groupIds.map((groupId) => ({ groupId, userIds: members.get(groupId) ?? [] })) };
    },

    async checkMemberships(req) {
      const checks = requireBatch(req.checks, "checks", "questions").map((c, i) => ({ groupId: requireId(c.groupId, `checks[${i}].group_id`), userId: requireId(c.userId, `checks[${i}].user_id`) }));
      const members = await q.membersAmong(db, checks);
      return { isMember: checks.map((c) => members.has(`${c.groupId}:${c.userId}`)) };
    },
  };
}
