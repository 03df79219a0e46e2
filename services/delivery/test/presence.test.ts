import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { codeOf } from "@redup/kit/testing";
import { describe, expect, it } from "vitest";
import { prefix, presence, query, tap, useDeliveryStack } from "./harness.js";

const stack = useDeliveryStack();

const subject = (userId: bigint) => `${prefix}.presence.${userId}.changed`;
const online = (userId: bigint) => ({ userId, online: true });
const offline = (userId: bigint) => ({ userId, online: false });

/** The presence events seen, as [user, online]. */
const changes = (events: { subject: string; data: Uint8Array }[]) =>
  events.filter((e) => e.subject.startsWith(`${prefix}.presence.`)).map((e) => [presence(e.data).userId, presence(e.data).online]);

describe("presence", () => {
  it("is online while any edge holds the user; the first edge in and the last out publish", async () => {
    const t = await tap([]);
    try {
      await stack.client.reportPresence({ edgeId: "edge-a", reports: [online(701n)] });
      await stack.client.reportPresence({ edgeId: "edge-b", reports: [online(701n)] });
      const now = await stack.client.batchGetPresence({ userIds: [701n, 702n] });
      expect(now.presences.map((p) => [p.userId, p.online])).toEqual([
        [701n, true],
        [702n, false],
      ]);
      expect(Math.abs(timestampMs(now.presences[0]!.lastSeen!) - Date.now())).toBeLessThan(60_000);
      // A user never seen has no last_seen.
      expect(now.presences[1]!.lastSeen).toBeUndefined();

      await stack.client.reportPresence({ edgeId: "edge-a", reports: [offline(701n)] });
      expect((await stack.client.batchGetPresence({ userIds: [701n] })).presences[0]!.online).toBe(true);
      await stack.client.reportPresence({ edgeId: "edge-b", reports: [offline(701n)] });
      const gone = (await stack.client.batchGetPresence({ userIds: [701n] })).presences[0]!;
      expect(gone.online).toBe(false);
      const events = await t.settled();
      expect(changes(events)).toEqual([
        [701n, true],
        [701n, false],
      ]);
      expect(events.map((e) => e.subject)).toEqual([subject(701n), subject(701n)]);
      expect(timestampMs(presence(events[1]!.data).lastSeen!)).toBe(timestampMs(gone.lastSeen!));
    } finally {
      t.close();
    }
  });

  it("applies a batch's last report per user, so a flap inside one batch publishes nothing", async () => {
    const t = await tap([]);
    try {
      await stack.client.reportPresence({ edgeId: "edge-a", reports: [online(711n), offline(711n), online(712n), offline(712n), online(712n)] });
      expect(changes(await t.settled())).toEqual([[712n, true]]);
      expect((await stack.client.batchGetPresence({ userIds: [711n, 712n] })).presences.map((p) => p.online)).toEqual([false, true]);
    } finally {
      t.close();
    }
  });

  it("publishes one offline when two edges let go of a user at the same time", async () => {
    const users = Array.from({ length: 30 }, (_, i) => 720n + BigInt(i));
    await stack.client.reportPresence({ edgeId: "edge-c", reports: users.map(online) });
    await stack.client.reportPresence({ edgeId: "edge-d", reports: users.map(online) });
    const t = await tap([]);
    try {
      await Promise.all([
        stack.client.reportPresence({ edgeId: "edge-c", reports: users.map(offline) }),
        stack.client.reportPresence({ edgeId: "edge-d", reports: [...users].reverse().map(offline) }),
      ]);
      const seen = changes(await t.settled());
      expect(seen).toHaveLength(users.length);
      expect(new Set(seen.map(([user]) => user))).toEqual(new Set(users));
      expect(seen.every(([, isOnline]) => isOnline === false)).toBe(true);
    } finally {
      t.close();
    }
  });

  it("takes a silent edge for dead: its users go offline; a reset lets go at once", async () => {
    await stack.client.reportPresence({ edgeId: "edge-dies", reports: [online(731n), online(732n)] });
    await stack.client.reportPresence({ edgeId: "edge-lives", reports: [online(732n)] });
    await stack.client.reportPresence({ edgeId: "edge-restarts", reports: [online(733n)] });
    const t = await tap([subject(731n)]);
    try {
      // edge-lives keeps saying it is alive; edge-dies says nothing more.
      const beat = setInterval(() => void stack.client.edgeHeartbeat({ edgeId: "edge-lives" }).catch(() => {}), 300);
      try {
        // The timeout is 1.5 s and the reaper looks every 0.5 s; the wait is bounded well above.
        await t.next(subject(731n), (d) => !presence(d).online, 10_000);
      } finally {
        clearInterval(beat);
      }
      const now = await stack.client.batchGetPresence({ userIds: [731n, 732n] });
      expect(now.presences.map((p) => p.online)).toEqual([false, true]);
      expect(await query("select edge_id from presencia where edge_id = 'edge-dies'")).toEqual([]);
      // The live edge's reports stand; the dead one, should it come back, must report again.
      expect((await stack.client.edgeHeartbeat({ edgeId: "edge-lives" })).known).toBe(true);
      expect((await stack.client.edgeHeartbeat({ edgeId: "edge-dies" })).known).toBe(false);

      // An edge restarted under the same id holds nobody: its heartbeat with reset says so.
      await stack.client.edgeHeartbeat({ edgeId: "edge-restarts", reset: true });
      expect((await stack.client.batchGetPresence({ userIds: [733n] })).presences[0]!.online).toBe(false);
      const seen = changes(await t.settled());
      expect(seen).toContainEqual([731n, false]);
      expect(seen).toContainEqual([733n, false]);
      expect(seen).not.toContainEqual([732n, false]);
    } finally {
      t.close();
    }
  });

  it("keeps last_seen in the database: another server (a restart, a replica) answers the same", async () => {
    await stack.client.reportPresence({ edgeId: "edge-e", reports: [online(741n)] });
    await stack.client.reportPresence({ edgeId: "edge-e", reports: [offline(741n)] });
    const before = (await stack.client.batchGetPresence({ userIds: [741n] })).presences[0]!;
    const replica = await stack.startReplica();
    try {
      const after = (await replica.client.batchGetPresence({ userIds: [741n] })).presences[0]!;
      expect(after.online).toBe(false);
      expect(timestampMs(after.lastSeen!)).toBe(timestampMs(before.lastSeen!));
    } finally {
      await replica.server.close();
    }
  });

  it("refuses bad input", async () => {
    expect(await codeOf(stack.client.reportPresence({ edgeId: "", reports: [online(1n)] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.reportPresence({ edgeId: "edge a", reports: [online(1n)] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.reportPresence({ edgeId: "edge-a", reports: [] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.reportPresence({ edgeId: "edge-a", reports: [online(0n)] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.reportPresence({ edgeId: "edge-a", reports: Array.from({ length: 1001 }, (_, i) => online(BigInt(i + 1))) }))).toBe(
      Code.InvalidArgument,
    );
    expect(await codeOf(stack.client.edgeHeartbeat({ edgeId: "x".repeat(65) }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.batchGetPresence({ userIds: [] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(stack.client.batchGetPresence({ userIds: [5n, -5n] }))).toBe(Code.InvalidArgument);
  });
});
