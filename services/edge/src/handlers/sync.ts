import { onBehalfOf } from "@redup/kit";
import type { ListChangesResponse } from "@redup/proto/redup/messages/v1/messages_pb";
import { MessageChangeKind } from "@redup/proto/redup/messages/v1/messages_pb";
import type { ListReceiptChangesResponse } from "@redup/proto/redup/delivery/v1/delivery_pb";
import type { EdgeContext } from "../context.js";
import type { FeedChange, SyncedReply } from "../events.js";
import { ProtocolError } from "../protocol/errors.js";
import { isoUtc, toLastMessage } from "../protocol/format.js";
import { asObject } from "../protocol/parse.js";
import type { EventTable } from "./dispatch.js";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;
/** A feed position, `<xid>.<pos>`; the edge's cursor joins the messages and receipts positions. */
const POSITION = "[0-9]{1,20}\\.[0-9]{1,19}";
const CURSOR = new RegExp(`^(${POSITION})_(${POSITION})$`);

const KINDS: Partial<Record<MessageChangeKind, FeedChange["kind"]>> = {
  [MessageChangeKind.CREATED]: "message",
  [MessageChangeKind.EDITED]: "edit",
  [MessageChangeKind.DELETED]: "delete",
};

/** Both feeds' entries as one list, by time (each feed keeps its own order among equals). */
function merge(messages: ListChangesResponse, receipts: ListReceiptChangesResponse): FeedChange[] {
  const fromMessages = messages.changes.flatMap((c) => {
    const kind = KINDS[c.kind];
    if (!kind || !c.message) return [];
    return [{ kind, mensaje_id: String(c.message.id), sala_chat_id: String(c.message.roomId), at: isoUtc(c.at), message: toLastMessage(c.message) } satisfies FeedChange];
  });
  const fromReceipts = receipts.receipts.map(
    (r): FeedChange => ({ kind: r.read ? "read" : "delivered", mensaje_id: String(r.messageId), sala_chat_id: String(r.roomId), at: isoUtc(r.at), user_id: String(r.recipientId) }),
  );
  const all = [...fromMessages.map((c, i) => ({ c, i })), ...fromReceipts.map((c, i) => ({ c, i: i + fromMessages.length }))];
  // isoUtc strings of one format sort as their times do.
  all.sort((a, b) => (a.c.at < b.c.at ? -1 : a.c.at > b.c.at ? 1 : a.i - b.i));
  return all.map((x) => x.c);
}

/**
 * `sync`: the user's change feed since a cursor the client kept — new messages, edits and
 * deletes in the user's rooms (messages service) and receipts of the user's messages
 * (delivery) — so a device that was away learns what changed, even of messages it already had.
 */
export function syncHandlers(ctx: EdgeContext): EventTable {
  return {
    sync: {
      reply: "synced",
      async handle(member, payload) {
        const p = asObject(payload);
        const limit = p["limit"] === undefined || p["limit"] === null ? DEFAULT_LIMIT : p["limit"];
        if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
          throw new ProtocolError("INVALID_PAYLOAD", `limit debe ser un entero entre 1 y ${MAX_LIMIT}`);
        const since = p["since"] ?? "";
        if (typeof since !== "string") throw new ProtocolError("INVALID_PAYLOAD", "since debe ser el cursor de un synced anterior");
        const parts = since === "" ? ["", ""] : CURSOR.exec(since)?.slice(1);
        if (!parts) throw new ProtocolError("INVALID_PAYLOAD", "since debe ser el cursor de un synced anterior");
        const userId = BigInt(member.userId);
        const [messages, receipts] = await Promise.all([
          ctx.messages.listChanges({ userId, after: parts[0]!, pageSize: limit }, onBehalfOf(userId)),
          ctx.delivery.listReceiptChanges({ userId, after: parts[1]!, pageSize: limit }, onBehalfOf(userId)),
        ]);
        const reply: SyncedReply = {
          status: "ok",
          changes: merge(messages, receipts),
          cursor: `${messages.next}_${receipts.next}`,
          has_more: messages.hasMore || receipts.hasMore,
          too_far_behind: messages.tooFarBehind || receipts.tooFarBehind,
        };
        return reply;
      },
    },
  };
}
