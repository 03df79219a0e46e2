import assert from "node:assert/strict";
import type { Checks } from "./types.js";

const S = "redup.rooms.v1.RoomsService";

export const roomsChecks: Checks = {
  [`${S}/ResolveDirectRoom`]: async ({ rooms, ids, refusal }) => {
    const one = await rooms("ResolveDirectRoom", { userId: ids.a, peerId: ids.b });
    const other = await rooms("ResolveDirectRoom", { userId: ids.b, peerId: ids.a });
    assert.equal(other.room.id, one.room.id, "one room per pair, in either order");
    assert.equal(other.created, false);
    assert.equal(one.room.type, "ROOM_TYPE_DIRECTO");
    assert.deepEqual([one.room.userAId, one.room.userBId].sort(), [ids.a, ids.b].sort());
    assert.equal(await refusal(rooms("ResolveDirectRoom", { userId: ids.a, peerId: ids.a })), "INVALID_ARGUMENT");
  },

  [`${S}/FindDirectRoom`]: async ({ rooms, ids }) => {
    const resolved = await rooms("ResolveDirectRoom", { userId: ids.a, peerId: ids.b });
    assert.equal((await rooms("FindDirectRoom", { userId: ids.b, peerId: ids.a })).room?.id, resolved.room.id);
    assert.equal((await rooms("FindDirectRoom", { userId: ids.a, peerId: ids.fresh() })).room, null, "no room for a pair that never talked");
  },

  [`${S}/ResolveGroupRoom`]: async ({ rooms, ids }) => {
    const first = await rooms("ResolveGroupRoom", { groupId: ids.group });
    assert.equal(first.room.type, "ROOM_TYPE_GRUPAL");
    assert.equal(first.room.groupId, ids.group);
    const again = await rooms("ResolveGroupRoom", { groupId: ids.group });
    assert.equal(again.room.id, first.room.id);
    assert.equal(again.created, false);
  },

  [`${S}/ListUserRooms`]: async ({ rooms, ids, fixtures, refusal }) => {
    await fixtures.group();
    const pair = await rooms("ResolveDirectRoom", { userId: ids.a, peerId: ids.b });
    const { rooms: list } = await rooms("ListUserRooms", { userId: ids.a });
    const direct = list.find((r: { roomId: string }) => r.roomId === pair.room.id);
    assert.deepEqual([direct?.type, direct?.peerOrGroupId], ["ROOM_TYPE_DIRECTO", ids.b], "the pair's room, with the peer");
    assert.ok(direct.createdAt, "created_at is set");
    assert.ok(
      list.some((r: { type: string; peerOrGroupId: string }) => r.type === "ROOM_TYPE_GRUPAL" && r.peerOrGroupId === ids.group),
      "the rooms of the user's groups",
    );
    assert.deepEqual((await rooms("ListUserRooms", { userId: ids.fresh() })).rooms, [], "a user with no rooms");
    assert.equal(await refusal(rooms("ListUserRooms", { userId: "0" })), "INVALID_ARGUMENT");
  },

  [`${S}/GetRoom`]: async ({ rooms, ids, refusal }) => {
    const resolved = await rooms("ResolveDirectRoom", { userId: ids.a, peerId: ids.b });
    assert.equal((await rooms("GetRoom", { roomId: resolved.room.id })).room.uuid, resolved.room.uuid);
    assert.equal(await refusal(rooms("GetRoom", { roomId: ids.unknown })), "NOT_FOUND");
    assert.equal(await refusal(rooms("GetRoom", { roomId: "0" })), "INVALID_ARGUMENT");
  },

  [`${S}/JoinGroup`]: async ({ rooms, ids }) => {
    const user = ids.fresh();
    const joined = await rooms("JoinGroup", { groupId: ids.group, userId: user });
    assert.deepEqual([joined.member.groupId, joined.member.userId, joined.alreadyMember], [ids.group, user, false]);
    assert.equal(joined.room.groupId, ids.group);
    assert.equal((await rooms("JoinGroup", { groupId: ids.group, userId: user })).alreadyMember, true);
  },

  [`${S}/LeaveGroup`]: async ({ rooms, ids }) => {
    const user = ids.fresh();
    await rooms("JoinGroup", { groupId: ids.group, userId: user });
    assert.equal((await rooms("LeaveGroup", { groupId: ids.group, userId: user })).wasMember, true);
    assert.equal((await rooms("LeaveGroup", { groupId: ids.group, userId: user })).wasMember, false);
    assert.equal((await rooms("CheckMembership", { groupId: ids.group, userId: user })).isMember, false);
  },

  [`${S}/ListGroupMembers`]: async ({ rooms, ids, fixtures }) => {
    await fixtures.group();
    const members = (await rooms("ListGroupMembers", { groupId: ids.group, pageSize: 1000 })).members.map((m: { userId: string }) => m.userId);
    assert.ok(members.includes(ids.a) && members.includes(ids.b), `members ${members.join(",")} include ${ids.a} and ${ids.b}`);
    const page = await rooms("ListGroupMembers", { groupId: ids.group, pageSize: 1 });
    assert.equal(page.members.length, 1);
    assert.notEqual(page.nextPageToken, "", "a page token while there are more members");
  },

  [`${S}/ListUserGroups`]: async ({ rooms, ids, fixtures }) => {
    await fixtures.group();
    const groups = (await rooms("ListUserGroups", { userId: ids.a })).memberships.map((m: { groupId: string }) => m.groupId);
    assert.ok(groups.includes(ids.group), `groups of ${ids.a}: ${groups.join(",")}`);
  },

  [`${S}/BatchListUserGroups`]: async ({ rooms, ids, fixtures, refusal }) => {
    await fixtures.group();
    const batch = await rooms("BatchListUserGroups", { requests: [{ userId: ids.a }, { userId: ids.fresh() }] });
    assert.equal(batch.responses.length, 2, "one answer per request, in order");
    assert.ok(batch.responses[0].memberships.some((m: { groupId: string }) => m.groupId === ids.group));
    assert.deepEqual(batch.responses[1].memberships, []);
    assert.equal(await refusal(rooms("BatchListUserGroups", { requests: [] })), "INVALID_ARGUMENT");
  },

  [`${S}/CheckMembership`]: async ({ rooms, ids, fixtures }) => {
    await fixtures.group();
    assert.equal((await rooms("CheckMembership", { groupId: ids.group, userId: ids.a })).isMember, true);
    assert.equal((await rooms("CheckMembership", { groupId: ids.group, userId: ids.fresh() })).isMember, false);
  },

  [`${S}/CheckMemberships`]: async ({ rooms, ids, fixtures }) => {
    await fixtures.group();
    const checks = [ids.a, ids.fresh(), ids.b].map((userId) => ({ groupId: ids.group, userId }));
    assert.deepEqual((await rooms("CheckMemberships", { checks })).isMember, [true, false, true]);
  },

  [`${S}/BatchListGroupMemberIds`]: async ({ rooms, ids, fixtures, refusal }) => {
    await fixtures.group();
    const empty = ids.fresh();
    const { groups } = await rooms("BatchListGroupMemberIds", { groupIds: [ids.group, empty] });
    assert.equal(groups.length, 2, "one answer per group, in order");
    assert.equal(groups[0].groupId, ids.group);
    assert.ok(groups[0].userIds.includes(ids.a) && groups[0].userIds.includes(ids.b), "both members");
    assert.deepEqual([groups[1].groupId, groups[1].userIds], [empty, []], "a group without members has none");
    assert.equal(await refusal(rooms("BatchListGroupMemberIds", { groupIds: [] })), "INVALID_ARGUMENT");
  },
};
