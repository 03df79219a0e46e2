import { Code } from "@connectrpc/connect";
import { createLogger, createServiceClient, onBehalfOf, type RunningServer } from "@redup/kit";
import { codeOf, createTestDatabase, explainPlan, startTcpProxy, type TcpProxy, type TestDatabase, withClient } from "@redup/kit/testing";
import { Health, HealthCheckResponse_ServingStatus } from "@redup/proto/grpc/health/v1/health_pb";
import { RoomsService, RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { USER_ROOMS, USER_ROOMS_MAX } from "../src/db/queries.js";
import { loadConfig, startRooms } from "../src/index.js";

const logger = createLogger({ service: "rooms-test", level: "silent" });
let db: TestDatabase;
let server: RunningServer;
let client: ReturnType<typeof createServiceClient<typeof RoomsService>>;

const countRooms = () => withClient(db.url, async (c) => Number((await c.query("select count(*) from salas_chat")).rows[0].count));

beforeAll(async () => {
  db = await createTestDatabase("rooms");
  server = await startRooms(loadConfig({ DATABASE_URL: db.url, ROOMS_PORT: "0", HOST: "127.0.0.1" }), logger);
  client = createServiceClient(RoomsService, { baseUrl: server.url, timeoutMs: 5000 });
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

describe("direct rooms", () => {
  it("gives both directions of a pair the same room, stored with the smaller id first", async () => {
    const first = await client.resolveDirectRoom({ userId: 789n, peerId: 123n });
    const second = await client.resolveDirectRoom({ userId: 123n, peerId: 789n });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.room!.id).toBe(first.room!.id);
    expect(first.room!.type).toBe(RoomType.DIRECTO);
    expect([first.room!.userAId, first.room!.userBId]).toEqual([123n, 789n]);
    const row = await withClient(db.url, async (c) => (await c.query("select * from salas_chat where id = $1", [String(first.room!.id)])).rows[0]);
    expect(row).toMatchObject({ tipo_sala: "directo", usuario_a_id: "123", usuario_b_id: "789", grupo_id: null });
    expect(row.sala_uuid).toBe(first.room!.uuid);
  });

  it("finds a pair's room without creating one", async () => {
    const before = await countRooms();
    expect((await client.findDirectRoom({ userId: 8001n, peerId: 8002n })).room).toBeUndefined();
    expect(await countRooms()).toBe(before);
    const { room } = await client.resolveDirectRoom({ userId: 8002n, peerId: 8001n });
    expect((await client.findDirectRoom({ userId: 8001n, peerId: 8002n })).room!.id).toBe(room!.id);
    expect(await codeOf(client.findDirectRoom({ userId: 5n, peerId: 5n }))).toBe(Code.InvalidArgument);
  });

  it("creates exactly one room when first messages race, in both orders", async () => {
    const calls = Array.from({ length: 24 }, (_, i) =>
      client.resolveDirectRoom(i % 2 ? { userId: 5001n, peerId: 5002n } : { userId: 5002n, peerId: 5001n }),
    );
    const results = await Promise.all(calls);
    expect(new Set(results.map((r) => r.room!.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const rows = await withClient(db.url, async (c) =>
      (await c.query("select count(*) from salas_chat where least(usuario_a_id, usuario_b_id) = 5001 and greatest(usuario_a_id, usuario_b_id) = 5002")).rows[0].count,
    );
    expect(rows).toBe("1");
  });

  it("refuses bad ids and self-pairs without writing", async () => {
    const before = await countRooms();
    expect(await codeOf(client.resolveDirectRoom({ userId: 0n, peerId: 1n }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.resolveDirectRoom({ userId: -4n, peerId: 1n }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.resolveDirectRoom({ userId: 7n, peerId: 7n }))).toBe(Code.InvalidArgument);
    expect(await countRooms()).toBe(before);
  });
});

describe("group rooms and membership", () => {
  it("resolves one room per group, even concurrently", async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => client.resolveGroupRoom({ groupId: 456n })));
    expect(new Set(results.map((r) => r.room!.id)).size).toBe(1);
    expect(results[0]!.room).toMatchObject({ type: RoomType.GRUPAL, groupId: 456n, userAId: 0n, userBId: 0n });
    const got = await client.getRoom({ roomId: results[0]!.room!.id });
    expect(got.room!.uuid).toBe(results[0]!.room!.uuid);
  });

  it("answers NotFound for an unknown room", async () => {
    expect(await codeOf(client.getRoom({ roomId: 99_999_999n }))).toBe(Code.NotFound);
  });

  it("joins, checks, lists and leaves", async () => {
    const joined = await client.joinGroup({ groupId: 900n, userId: 11n });
    expect(joined.alreadyMember).toBe(false);
    expect(joined.room!.groupId).toBe(900n);
    const again = await client.joinGroup({ groupId: 900n, userId: 11n });
    expect(again.alreadyMember).toBe(true);
    expect(again.member!.joinedAt).toEqual(joined.member!.joinedAt);
    for (const userId of [12n, 13n, 14n, 15n]) await client.joinGroup({ groupId: 900n, userId });
    await client.joinGroup({ groupId: 901n, userId: 11n });

    expect((await client.checkMembership({ groupId: 900n, userId: 13n })).isMember).toBe(true);
    expect((await client.checkMembership({ groupId: 900n, userId: 99n })).isMember).toBe(false);

    const seen: bigint[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await client.listGroupMembers({ groupId: 900n, pageSize: 2, pageToken });
      seen.push(...page.members.map((m) => m.userId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");
    expect(seen).toEqual([11n, 12n, 13n, 14n, 15n]);
    expect(pages).toBe(3);

    const groups = await client.listUserGroups({ userId: 11n });
    expect(groups.memberships.map((m) => m.groupId)).toEqual([900n, 901n]);
    expect(groups.nextPageToken).toBe("");

    expect((await client.leaveGroup({ groupId: 900n, userId: 13n })).wasMember).toBe(true);
    expect((await client.leaveGroup({ groupId: 900n, userId: 13n })).wasMember).toBe(false);
    expect((await client.checkMembership({ groupId: 900n, userId: 13n })).isMember).toBe(false);
    const rows = await withClient(db.url, async (c) => (await c.query("select usuario_id from chat_miembros_grupo where grupo_id = 900 order by usuario_id")).rows);
    expect(rows.map((r) => r.usuario_id)).toEqual(["11", "12", "14", "15"]);
  });

  it("joins 50 users to a new group at once: one room, 50 memberships", async () => {
    const joins = await Promise.all(Array.from({ length: 50 }, (_, i) => client.joinGroup({ groupId: 4600n, userId: 46_000n + BigInt(i) })));
    expect(new Set(joins.map((j) => j.room!.id)).size).toBe(1);
    expect(joins.every((j) => !j.alreadyMember)).toBe(true);
    const { members } = await client.listGroupMembers({ groupId: 4600n });
    expect(members.map((m) => m.userId)).toEqual(Array.from({ length: 50 }, (_, i) => 46_000n + BigInt(i)));
  });

  it("creates one room when two replicas race for it (the advisory lock, across processes' pools)", async () => {
    const replica = await startRooms(loadConfig({ DATABASE_URL: db.url, ROOMS_PORT: "0", HOST: "127.0.0.1" }), logger);
    try {
      const other = createServiceClient(RoomsService, { baseUrl: replica.url, timeoutMs: 5000 });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? client : other).resolveDirectRoom({ userId: 4700n + BigInt(i % 4), peerId: 4799n })),
      );
      for (let pair = 0; pair < 4; pair++) {
        const ids = new Set(results.filter((_, i) => i % 4 === pair).map((r) => r.room!.id));
        expect(ids.size).toBe(1);
      }
      expect(results.filter((r) => r.created)).toHaveLength(4);
      const rows = await withClient(db.url, async (c) => (await c.query("select count(*)::int as n from salas_chat where usuario_b_id = 4799")).rows[0].n);
      expect(rows).toBe(4);
    } finally {
      await replica.close();
    }
  });

  it("answers many membership questions at once, in order", async () => {
    await client.joinGroup({ groupId: 4800n, userId: 4801n });
    await client.joinGroup({ groupId: 4810n, userId: 4802n });
    const { isMember } = await client.checkMemberships({
      checks: [
        { groupId: 4800n, userId: 4801n },
        { groupId: 4800n, userId: 4802n },
        { groupId: 4810n, userId: 4802n },
        { groupId: 4810n, userId: 4801n },
        { groupId: 4800n, userId: 4801n },
      ],
    });
    expect(isMember).toEqual([true, false, true, false, true]);
    expect(await codeOf(client.checkMemberships({ checks: [] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.checkMemberships({ checks: [{ groupId: 0n, userId: 1n }] }))).toBe(Code.InvalidArgument);
    const tooMany = Array.from({ length: 1001 }, () => ({ groupId: 1n, userId: 1n }));
    expect(await codeOf(client.checkMemberships({ checks: tooMany }))).toBe(Code.InvalidArgument);
  });

  it("lists the groups of many users at once, each as ListUserGroups would", async () => {
    for (const [groupId, userId] of [[4901n, 4950n], [4902n, 4950n], [4903n, 4951n]] as const) await client.joinGroup({ groupId, userId });
    const { responses } = await client.batchListUserGroups({ requests: [{ userId: 4950n }, { userId: 4952n }, { userId: 4951n }, { userId: 4950n, pageSize: 1 }] });
    expect(responses.map((r) => r.memberships.map((m) => m.groupId))).toEqual([[4901n, 4902n], [], [4903n], [4901n]]);
    expect(responses[3]!.nextPageToken).not.toBe("");
    expect(await codeOf(client.batchListUserGroups({ requests: [] }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.batchListUserGroups({ requests: [{ userId: 4950n }, { userId: 4951n }] }, onBehalfOf(4950n)))).toBe(Code.PermissionDenied);
  });

  it("refuses bad pagination input", async () => {
    expect(await codeOf(client.listGroupMembers({ groupId: 900n, pageSize: 5000 }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.listGroupMembers({ groupId: 900n, pageToken: "abc" }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.joinGroup({ groupId: 0n, userId: 1n }))).toBe(Code.InvalidArgument);
  });
});

describe("the rooms of a user", () => {
  it("lists the user's direct rooms on either side of the pair and the rooms of its groups", async () => {
    const withHigher = (await client.resolveDirectRoom({ userId: 9001n, peerId: 9002n })).room!;
    const withLower = (await client.resolveDirectRoom({ userId: 9001n, peerId: 8000n })).room!;
    // Stored in the other order by an older server: still the user's.
    const [legacy] = await withClient(db.url, async (c) =>
      (await c.query("insert into salas_chat (tipo_sala, usuario_a_id, usuario_b_id) values ('directo', 9003, 9001) returning id::text")).rows,
    );
    // A group joined before any message: its room exists and is listed.
    const group = (await client.joinGroup({ groupId: 9500n, userId: 9001n })).room!;
    await client.resolveDirectRoom({ userId: 9002n, peerId: 9003n }); // not 9001's
    await client.joinGroup({ groupId: 9501n, userId: 9002n }); // neither

    const { rooms } = await client.listUserRooms({ userId: 9001n });
    expect(rooms.map((r) => [r.roomId, r.type, r.peerOrGroupId])).toEqual(
      [
        [withHigher.id, RoomType.DIRECTO, 9002n],
        [withLower.id, RoomType.DIRECTO, 8000n],
        [BigInt(legacy.id), RoomType.DIRECTO, 9003n],
        [group.id, RoomType.GRUPAL, 9500n],
      ].sort((a, b) => Number((a[0] as bigint) - (b[0] as bigint))),
    );
    expect(rooms.every((r) => r.createdAt !== undefined)).toBe(true);
    expect((await client.listUserRooms({ userId: 9999n })).rooms).toEqual([]);
    // Leaving the group takes its room off the list.
    await client.leaveGroup({ groupId: 9500n, userId: 9001n });
    expect((await client.listUserRooms({ userId: 9001n })).rooms.map((r) => r.peerOrGroupId)).not.toContain(9500n);

    expect(await codeOf(client.listUserRooms({ userId: 0n }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client.listUserRooms({ userId: 9001n }, onBehalfOf(9002n)))).toBe(Code.PermissionDenied);
  });

  it("reads a user's rooms through the pair and membership indexes (EXPLAIN), and refuses a user past the bound", async () => {
    // 30,000 pairs around 300 users, 20,001 of them with user 9700, and many memberships.
    await withClient(db.url, async (c) => {
      await c.query(`insert into salas_chat (tipo_sala, usuario_a_id, usuario_b_id)
        select 'directo', case when g <= 20001 then 9700 else 10000 + g % 300 end, 100000 + g from generate_series(1, 30000) g`);
      await c.query("insert into chat_miembros_grupo (grupo_id, usuario_id) select 20000 + g % 500, 30000 + g from generate_series(1, 30000) g on conflict do nothing");
      await c.query("analyze salas_chat");
      await c.query("analyze chat_miembros_grupo");
    });
    const plan = await explainPlan(db.url, USER_ROOMS, ["10007", String(USER_ROOMS_MAX + 1)]);
    expect(plan.some((n) => n.type === "Seq Scan")).toBe(false);
    const indexes = plan.map((n) => n.index).filter(Boolean);
    expect(indexes).toEqual(expect.arrayContaining(["salas_chat_directo_a_idx", "salas_chat_directo_b_idx", "chat_miembros_grupo_usuario_idx"]));

    const err = await client.listUserRooms({ userId: 9700n }).catch((e: unknown) => e);
    expect(await codeOf(Promise.reject(err))).toBe(Code.FailedPrecondition);
    expect(String(err)).toContain("more than 20000 rooms");
  });
});

describe("service credentials and acting users", () => {
  it("accepts calls only with the service token, health excepted, and enforces the acting user", async () => {
    const token = "un-token-de-servicio-de-al-menos-32-caracteres";
    const guarded = await startRooms(loadConfig({ DATABASE_URL: db.url, ROOMS_PORT: "0", HOST: "127.0.0.1", SERVICE_TOKEN: token }), logger);
    try {
      const anonymous = createServiceClient(RoomsService, { baseUrl: guarded.url, retries: 0 });
      const wrong = createServiceClient(RoomsService, { baseUrl: guarded.url, token: "x".repeat(40), retries: 0 });
      const holder = createServiceClient(RoomsService, { baseUrl: guarded.url, token, retries: 0 });
      expect(await codeOf(anonymous.checkMembership({ groupId: 1n, userId: 1n }))).toBe(Code.Unauthenticated);
      expect(await codeOf(wrong.checkMembership({ groupId: 1n, userId: 1n }))).toBe(Code.Unauthenticated);
      expect((await holder.checkMembership({ groupId: 1n, userId: 1n })).isMember).toBe(false);
      const health = createServiceClient(Health, { baseUrl: guarded.url });
      expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);

      // On behalf of user 5, a call may only touch user 5's things.
      const as5 = onBehalfOf(5n);
      expect((await holder.joinGroup({ groupId: 70n, userId: 5n }, as5)).member!.userId).toBe(5n);
      expect(await codeOf(holder.joinGroup({ groupId: 70n, userId: 6n }, as5))).toBe(Code.PermissionDenied);
      expect(await codeOf(holder.leaveGroup({ groupId: 70n, userId: 6n }, as5))).toBe(Code.PermissionDenied);
      expect(await codeOf(holder.listUserGroups({ userId: 6n }, as5))).toBe(Code.PermissionDenied);
      expect(await codeOf(holder.resolveDirectRoom({ userId: 6n, peerId: 7n }, as5))).toBe(Code.PermissionDenied);
      expect((await holder.resolveDirectRoom({ userId: 6n, peerId: 5n }, as5)).room).toBeDefined();
      expect(await codeOf(holder.checkMembership({ groupId: 70n, userId: 5n }, { headers: { "x-redup-user-id": "abc" } }))).toBe(Code.InvalidArgument);
      expect(await withClient(db.url, async (c) => (await c.query("select usuario_id from chat_miembros_grupo where grupo_id = 70")).rows)).toEqual([{ usuario_id: "5" }]);
    } finally {
      await guarded.close();
    }
  });

  it("refuses to start in production without a service token", () => {
    expect(() => loadConfig({ NODE_ENV: "production", DATABASE_URL: db.url })).toThrow(/SERVICE_TOKEN is required/);
  });
});

describe("health and outages", () => {
  it("serves grpc.health.v1", async () => {
    const health = createServiceClient(Health, { baseUrl: server.url });
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: "redup.rooms.v1.RoomsService" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect(await codeOf(health.check({ service: "nope.Service" }))).toBe(Code.NotFound);
  });

  it("answers Unavailable while the database is down and recovers by itself", async () => {
    const pgPort = Number(new URL(db.url).port || 5432);
    const proxy: TcpProxy = await startTcpProxy(pgPort);
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const outageServer = await startRooms(
      loadConfig({ DATABASE_URL: viaProxy.toString(), ROOMS_PORT: "0", HOST: "127.0.0.1" }),
      logger,
    );
    try {
      const c = createServiceClient(RoomsService, { baseUrl: outageServer.url, timeoutMs: 10_000 });
      const health = createServiceClient(Health, { baseUrl: outageServer.url });
      expect((await c.resolveGroupRoom({ groupId: 31n })).room!.groupId).toBe(31n);

      await proxy.cut();
      expect(await codeOf(c.resolveGroupRoom({ groupId: 32n }))).toBe(Code.Unavailable);
      expect(await codeOf(c.checkMembership({ groupId: 31n, userId: 1n }))).toBe(Code.Unavailable);
      expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);

      await proxy.restore();
      expect((await c.resolveGroupRoom({ groupId: 32n })).room!.groupId).toBe(32n);
      expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      await outageServer.close();
      await proxy.close();
    }
  });
});
