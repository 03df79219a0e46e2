import { onBehalfOf } from "@redup/kit";
import type { EdgeContext } from "../context.js";
import type { HistoryReply } from "../events.js";
import { ProtocolError } from "../protocol/errors.js";
import { toReceived } from "../protocol/format.js";
import { asObject, optionalId, parseChatType, parseId } from "../protocol/parse.js";
import type { EventTable } from "./dispatch.js";
import { ensureMember } from "./groups.js";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 200;

export function historyHandlers(ctx: EdgeContext): EventTable {
  return {
    get_history: {
      reply: "history",
      async handle(member, payload) {
        const userId = BigInt(member.userId);
        const p = asObject(payload);
        const type = parseChatType(p["type"]);
        const to = parseId(p["to"], "to");
        const beforeId = optionalId(p["before_id"], "before_id") ?? 0n;
        const limit = p["limit"] === undefined || p["limit"] === null ? DEFAULT_LIMIT : p["limit"];
        if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
          throw new ProtocolError("INVALID_PAYLOAD", `limit debe ser un entero entre 1 y ${MAX_LIMIT}`);

        let roomId: bigint;
        if (type === "directo") {
          if (to === userId) throw new ProtocolError("INVALID_ID", "to debe ser otro usuario");
          // Reading never creates a room: no room yet means no history.
          const { room } = await ctx.rooms.findDirectRoom({ userId, peerId: to }, onBehalfOf(userId));
          if (!room) {
            const empty: HistoryReply = { status: "ok", messages: [], next_before_id: null };
            return empty;
          }
          roomId = room.id;
        } else {
          // Only members read a group's history.
          await ensureMember(ctx, member.userId, to, { fresh: true });
          roomId = (await ctx.rooms.resolveGroupRoom({ groupId: to }, onBehalfOf(userId))).room!.id;
        }
        const page = await ctx.messages.listMessages({ roomId, beforeId, pageSize: limit }, onBehalfOf(userId));
        const reply: HistoryReply = {
          status: "ok",
          messages: page.messages.map(toReceived),
          next_before_id: page.nextBeforeId === 0n ? null : String(page.nextBeforeId),
        };
        return reply;
      },
    },
  };
}
