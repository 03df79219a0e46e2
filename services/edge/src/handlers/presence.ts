import type { EdgeContext } from "../context.js";
import type { PresenceUnwatchedReply, PresenceWatchedReply } from "../events.js";
import { ProtocolError } from "../protocol/errors.js";
import { asObject, parseId } from "../protocol/parse.js";
import { MAX_WATCHED_PER_SOCKET } from "../presence-watch.js";
import type { EventTable } from "./dispatch.js";

/** The user ids of a watch or unwatch: 1 to 200 ids, duplicates dropped, in the order given. */
function parseUserIds(payload: unknown): string[] {
  const ids = asObject(payload)["user_ids"];
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_WATCHED_PER_SOCKET)
    throw new ProtocolError("INVALID_PAYLOAD", `user_ids debe ser una lista de 1 a ${MAX_WATCHED_PER_SOCKET} ids`);
  return [...new Set(ids.map((id, i) => String(parseId(id, `user_ids[${i}]`))))];
}

export function presenceHandlers(ctx: EdgeContext): EventTable {
  return {
    watch_presence: {
      reply: "presence_watched",
      async handle(member, payload) {
        const presences = await ctx.presence.watch(member, parseUserIds(payload));
        const reply: PresenceWatchedReply = { status: "ok", presences };
        return reply;
      },
    },
    unwatch_presence: {
      reply: "presence_unwatched",
      handle(member, payload) {
        const userIds = parseUserIds(payload);
        ctx.presence.unwatch(member, userIds);
        const reply: PresenceUnwatchedReply = { status: "ok", user_ids: userIds };
        return Promise.resolve(reply);
      },
    },
  };
}
