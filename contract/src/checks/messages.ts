import assert from "node:assert/strict";
import type { CheckContext } from "../context.js";
import type { Reply } from "../grpc.js";
import type { Checks } from "./types.js";

const S = "redup.messages.v1.MessagesService";

/** A direct message a → b of the check's own, to edit or delete without touching shared data. */
const ownMessage = async ({ messages, ids }: CheckContext, content: string) =>
  (await messages("SendMessage", { senderId: ids.a, type: "ROOM_TYPE_DIRECTO", to: ids.b, content })).message;

export const messagesChecks: Checks = {
  [`${S}/SendMessage`]: async ({ messages, ids, refusal }) => {
    const clientMsgId = `contract-${ids.fresh()}`;
    const request = {
      senderId: ids.a,
      type: "ROOM_TYPE_DIRECTO",
      to: ids.b,
      messageType: "MESSAGE_TYPE_TEXTO",
      content: "Hola, ¿cómo estás?",
      clientTimestamp: "2024-01-15T10:30:00Z",
      clientMsgId,
      metadata: { fields: { app: { stringValue: "contract" } } },
    };
    const sent = await messages("SendMessage", request);
    assert.equal(sent.duplicate, false);
    // Answered once stored; the hand-off to delivery follows (dispatched is deprecated, always false).
    assert.equal(sent.dispatched, false);
    assert.deepEqual(
      [sent.message.senderId, sent.message.to, sent.message.roomType, sent.message.content, sent.message.clientMsgId, sent.message.clientTimestamp],
      [ids.a, ids.b, "ROOM_TYPE_DIRECTO", "Hola, ¿cómo estás?", clientMsgId, "2024-01-15T10:30:00Z"],
    );
    assert.match(sent.message.id, /^[1-9]\d*$/);
    assert.match(sent.message.uuid, /^[0-9a-f-]{36}$/);
    assert.equal(sent.message.metadata.fields.app.stringValue, "contract");
    const retry = await messages("SendMessage", request);
    assert.equal(retry.duplicate, true, "a retry with the same client_msg_id stores nothing new");
    assert.equal(retry.message.id, sent.message.id);
    assert.equal(await refusal(messages("SendMessage", { ...request, clientMsgId: "", content: "" })), "INVALID_ARGUMENT");
    assert.equal(await refusal(messages("SendMessage", { ...request, clientMsgId: "", type: "ROOM_TYPE_UNSPECIFIED" })), "INVALID_ARGUMENT");
  },

  [`${S}/SendMessages`]: async ({ messages, ids, refusal }) => {
    const direct = { senderId: ids.a, type: "ROOM_TYPE_DIRECTO", to: ids.b, content: "uno de varios" };
    // A group message from someone who is not a member: refused on its own, the rest stored.
    const outsider = { senderId: ids.fresh(), type: "ROOM_TYPE_GRUPAL", to: ids.group, content: "no soy miembro" };
    const { results } = await messages("SendMessages", { requests: [direct, outsider, { ...direct, content: "otro" }] });
    assert.deepEqual(results.map((r: { outcome: string }) => r.outcome), ["sent", "error", "sent"], "one result per request, in order");
    assert.equal(results[0].sent.message.content, "uno de varios");
    assert.equal(results[2].sent.message.content, "otro");
    assert.ok(BigInt(results[2].sent.message.id) > BigInt(results[0].sent.message.id), "one room's messages stored in request order");
    assert.equal(results[1].error.code, 7, "PERMISSION_DENIED for the outsider");
    const malformed = (await messages("SendMessages", { requests: [{ ...direct, to: "0" }] })).results;
    assert.deepEqual([malformed[0].outcome, malformed[0].error.code], ["error", 3], "a malformed request is INVALID_ARGUMENT on its own");
    assert.equal(await refusal(messages("SendMessages", { requests: [] })), "INVALID_ARGUMENT", "an empty batch refuses the call");
  },

  [`${S}/GetMessage`]: async ({ messages, ids, fixtures, refusal }) => {
    const message = await fixtures.direct();
    const got = (await messages("GetMessage", { messageId: message.id })).message;
    assert.deepEqual([got.id, got.uuid, got.content, got.senderId, got.to], [message.id, message.uuid, message.content, ids.a, ids.b]);
    assert.equal(await refusal(messages("GetMessage", { messageId: ids.unknown })), "NOT_FOUND");
  },

  [`${S}/BatchGetMessages`]: async ({ messages, ids, fixtures }) => {
    const message = await fixtures.direct();
    const got = (await messages("BatchGetMessages", { messageIds: [message.id, ids.unknown] })).messages;
    assert.deepEqual(got.map((m: { id: string }) => m.id), [message.id], "the ones that exist");
  },

  [`${S}/ListMessages`]: async ({ messages, ids, fixtures, refusal }) => {
    const message = await fixtures.direct();
    const page = await messages("ListMessages", { roomId: message.roomId, pageSize: 100 });
    assert.ok(page.messages.some((m: { id: string }) => m.id === message.id), "the room's history has the message");
    const ids_ = page.messages.map((m: { id: string }) => BigInt(m.id));
    assert.deepEqual(ids_, [...ids_].sort((x, y) => (x > y ? -1 : x < y ? 1 : 0)), "newest first");
    assert.equal(await refusal(messages("ListMessages", { roomId: ids.unknown })), "NOT_FOUND");
  },

  [`${S}/EditMessage`]: async (t) => {
    const message = await ownMessage(t, "antes");
    const edited = (await t.messages("EditMessage", { messageId: message.id, userId: t.ids.a, content: "después" })).message;
    assert.equal(edited.content, "después");
    assert.ok(edited.editedAt, "edited_at is set");
    assert.equal(await t.refusal(t.messages("EditMessage", { messageId: message.id, userId: t.ids.b, content: "x" })), "PERMISSION_DENIED", "only the sender edits");
  },

  [`${S}/DeleteMessage`]: async (t) => {
    const message = await ownMessage(t, "para borrar");
    assert.equal(await t.refusal(t.messages("DeleteMessage", { messageId: message.id, userId: t.ids.c })), "PERMISSION_DENIED", "only the sender deletes");
    const deleted = (await t.messages("DeleteMessage", { messageId: message.id, userId: t.ids.a })).message;
    assert.ok(deleted.deletedAt, "deleted_at is set");
  },

  [`${S}/GetConversations`]: async ({ messages, fixtures, ids, refusal }) => {
    const message = await fixtures.newDirect("para la bandeja");
    const { conversations } = await messages("GetConversations", { userId: ids.b, pageSize: 100 });
    const inbox = conversations.find((c: { roomId: string }) => c.roomId === message.roomId);
    assert.ok(inbox, "the pair's room is in b's inbox");
    assert.deepEqual([inbox.type, inbox.peerOrGroupId, inbox.lastMessage?.id], ["ROOM_TYPE_DIRECTO", ids.a, message.id], "with its newest message");
    assert.ok(inbox.unread >= 1, "the new message is unread");
    assert.ok(inbox.lastActivity, "last_activity is set");
    const first = await messages("GetConversations", { userId: ids.b, pageSize: 1 });
    assert.equal(first.conversations[0]?.roomId, message.roomId, "the newest activity comes first");
    assert.equal(await refusal(messages("GetConversations", { userId: ids.b, pageToken: "no-es-un-token" })), "INVALID_ARGUMENT");
  },

  [`${S}/ListChanges`]: async ({ messages, fixtures, ids, refusal }) => {
    const { next: start } = await messages("ListChanges", { userId: ids.b });
    const message = await fixtures.newDirect("para el feed");
    await messages("EditMessage", { messageId: message.id, userId: ids.a, content: "para el feed, editado" });
    // The feed hands out a change once every transaction older than it has ended (anywhere on
    // the database server): on a busy server, that can take a moment.
    let page: Reply = {};
    let mine: Reply[] = [];
    for (let attempt = 0; attempt < 50 && mine.length < 2; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 200));
      page = await messages("ListChanges", { userId: ids.b, after: start, pageSize: 500 });
      assert.equal(page.tooFarBehind, false);
      mine = page.changes.filter((c: { message: { id: string } }) => c.message.id === message.id);
    }
    assert.deepEqual(
      mine.map((c) => c["kind"]),
      ["MESSAGE_CHANGE_KIND_CREATED", "MESSAGE_CHANGE_KIND_EDITED"],
      "the message, then its edit",
    );
    assert.equal(mine[1]!["message"].content, "para el feed, editado", "as it is now");
    assert.deepEqual((await messages("ListChanges", { userId: ids.b, after: page.next })).changes, [], "nothing after next");
    assert.equal(await refusal(messages("ListChanges", { userId: ids.b, after: "no-es-una-posicion" })), "INVALID_ARGUMENT");
  },
};
