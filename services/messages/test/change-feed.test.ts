import { fromBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { createServiceClient, onBehalfOf } from "@redup/kit";
import { codeOf, waitFor, withClient } from "@redup/kit/testing";
import { MessageChangedSchema } from "@redup/proto/redup/events/v1/events_pb";
import { MessageChangeKind, MessagesService, MessageType, type MessageChange } from "@redup/proto/redup/messages/v1/messages_pb";
import { RoomType } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, startMessages } from "../src/index.js";
import { logger, startTestSystem, type TestSystem } from "./system.js";

let sys: TestSystem;
let nc: NatsConnection;

const query = (sql: string, params: unknown[] = []) => withClient(sys.db.url, async (c) => (await c.query(sql, params)).rows);
const send = async (senderId: bigint, to: bigint, content: string, type = RoomType.DIRECTO) =>
  (await sys.clients.messages.sendMessage({ senderId, to, type, content, messageType: MessageType.TEXTO })).message!;
const feed = (userId: bigint, after: string, pageSize = 0) => sys.clients.messages.listChanges({ userId, after, pageSize });
/**
 * The feed from `after` once it holds `count` changes: a change is handed out when every older
 * transaction on the server has ended, and other tests share this PostgreSQL server.
 */
const feedOf = (userId: bigint, after: string, count: number, pageSize = 0) =>
  waitFor(async () => {
    const page = await feed(userId, after, pageSize);
    return page.changes.length >= count ? page : undefined;
  }, 10_000, `${count} changes in ${userId}'s feed`);
const summary = (c: MessageChange) => [MessageChangeKind[c.kind], c.message!.id, c.message!.content, c.message!.to];

beforeAll(async () => {
  sys = await startTestSystem();
  nc = await connect({ servers: sys.natsUrl });
});
afterAll(async () => {
  await nc?.drain();
  await sys?.close();
});

describe("ListChanges and the live edit/delete events", () => {
  it("replays a user's new messages, edits and deletes in order, each announced live once", async () => {
    const live: { subject: string; kind: MessageChangeKind; id: bigint }[] = [];
    const sub = nc.subscribe(`${sys.prefix}.*.*.change`, {
      callback: (_err, msg) => {
        const event = fromBinary(MessageChangedSchema, msg.data);
        live.push({ subject: msg.subject.slice(sys.prefix.length + 1), kind: event.kind, id: event.message!.id });
      },
    });
    await nc.flush();
    for (const userId of [1001n, 1003n]) await sys.clients.rooms.joinGroup({ groupId: 1900n, userId });
    const start = (await feed(1001n, "")).next;
    expect(start).toMatch(/^\d+\.0$/);

    const m1 = await send(1002n, 1001n, "hola");
    const g1 = await send(1003n, 1900n, "al grupo", RoomType.GRUPAL);
    await send(1004n, 1005n, "no es de 1001");
    await sys.clients.messages.editMessage({ messageId: m1.id, userId: 1002n, content: "hola, corregido" });
    await sys.clients.messages.deleteMessage({ messageId: g1.id, userId: 1003n });
    // Deleting again changes and announces nothing; editing a deleted message is refused.
    await sys.clients.messages.deleteMessage({ messageId: g1.id, userId: 1003n });
    expect(await codeOf(sys.clients.messages.editMessage({ messageId: g1.id, userId: 1003n, content: "otra vez" }))).toBe(Code.FailedPrecondition);

    const page = await feedOf(1001n, start, 4);
    expect(page.tooFarBehind).toBe(false);
    expect(page.hasMore).toBe(false);
    // Each entry shows the message as it is now, addressed for 1001.
    expect(page.changes.map(summary)).toEqual([
      ["CREATED", m1.id, "hola, corregido", 1001n],
      ["CREATED", g1.id, "", 1900n],
      ["EDITED", m1.id, "hola, corregido", 1001n],
      ["DELETED", g1.id, "", 1900n],
    ]);
    expect(page.changes[3]!.message!.deletedAt).toBeDefined();
    // Nothing new since: the next call from `next` is empty.
    expect((await feed(1001n, page.next)).changes).toEqual([]);

    await waitFor(() => live.length >= 3, 5000, "the live change events");
    await nc.flush();
    expect(live.map((e) => [e.subject, MessageChangeKind[e.kind], e.id])).toEqual([
      ["user.1001.change", "EDITED", m1.id],
      ["user.1002.change", "EDITED", m1.id],
      ["group.1900.change", "DELETED", g1.id],
    ]);
    sub.unsubscribe();
  });

  it("pages without skipping or repeating, and never hands out a position a slower commit lands behind", async () => {
    const start = (await feed(1101n, "")).next;
    const sent: bigint[] = [];
    for (let i = 0; i < 5; i++) sent.push((await send(1102n, 1101n, `m${i}`)).id);
    const seen: bigint[] = [];
    let after = start;
    for (let round = 0; round < 10; round++) {
      const page = await feedOf(1101n, after, Math.min(2, sent.length - seen.length), 2);
      seen.push(...page.changes.map((c) => c.message!.id));
      after = page.next;
      if (!page.hasMore) break;
    }
    expect(seen).toEqual(sent);

    // A store still running (its transaction open) holds the horizon: a later commit is not
    // handed out before it, so the reader cannot skip it.
    const roomId = (await sys.clients.rooms.findDirectRoom({ userId: 1101n, peerId: 1102n })).room!.id;
    await withClient(sys.db.url, async (slow) => {
      await slow.query("begin");
      await slow.query("insert into cambios_sala (sala_chat_id, mensaje_id, tipo) values ($1, $2, 'edicion')", [String(roomId), String(sent[0])]);
      const later = await send(1102n, 1101n, "después");
      const blocked = await feed(1101n, after);
      expect(blocked.changes).toEqual([]);
      await slow.query("commit");
      const both = await feedOf(1101n, blocked.next, 2);
      expect(both.changes.map((c) => [MessageChangeKind[c.kind], c.message!.id])).toEqual([
        ["EDITED", sent[0]],
        ["CREATED", later.id],
      ]);
    });
  });

  it("answers too_far_behind once the changes after a position were pruned", async () => {
    const start = (await feed(1201n, "")).next;
    const old = await send(1202n, 1201n, "viejo");
    // A replica keeping changes for two seconds prunes them (it looks twice a second).
    const pruner = await startMessages(loadConfig({ ...sys.env, MESSAGES_PORT: "0", MESSAGES_METRICS_PORT: "0", CHANGE_FEED_RETENTION_SECONDS: "2" }), logger);
    try {
      const client = createServiceClient(MessagesService, { baseUrl: pruner.url });
      await waitFor(async () => (await query("select 1 from cambios_sala where mensaje_id = $1", [String(old.id)])).length === 0, 15_000, "the old change to be pruned");
      const answer = await client.listChanges({ userId: 1201n, after: start });
      expect(answer).toMatchObject({ tooFarBehind: true, changes: [], hasMore: false });
      // Its fresh position works.
      await send(1202n, 1201n, "nuevo");
      const fresh = await waitFor(async () => {
        const page = await client.listChanges({ userId: 1201n, after: answer.next });
        return page.changes.length > 0 ? page : undefined;
      }, 10_000, "the new change");
      expect(fresh.changes.map((c) => c.message!.content)).toEqual(["nuevo"]);
    } finally {
      await pruner.close();
    }
  });

  it("answers only the acting user, and refuses bad input", async () => {
    expect(await codeOf(sys.clients.messages.listChanges({ userId: 1001n, after: "" }, onBehalfOf(1002n)))).toBe(Code.PermissionDenied);
    for (const after of ["x", "1", "1.2.3", "-1.0", "1.-2"]) expect(await codeOf(feed(1001n, after))).toBe(Code.InvalidArgument);
    expect(await codeOf(feed(1001n, "", 501))).toBe(Code.InvalidArgument);
    expect(await codeOf(feed(0n, ""))).toBe(Code.InvalidArgument);
  });
});
