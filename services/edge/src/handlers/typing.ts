import type { EdgeContext } from "../context.js";
import type { TypingReply } from "../events.js";
import type { Member } from "../fanout.js";
import { TokenBucket } from "../limits.js";
import { ProtocolError } from "../protocol/errors.js";
import { asObject, parseChatType, parseId } from "../protocol/parse.js";
import type { EventHandler, EventTable } from "./dispatch.js";
import { ensureMember } from "./groups.js";

/** Typing events a socket may send: 2 a second, bursts of 5 (a client refreshes every ~3 s). */
const TYPING_PER_SEC = 2;
const TYPING_BURST = 5;

export function typingHandlers(ctx: EdgeContext): EventTable {
  // One budget per socket, dropped with the socket (nothing kept on the Member itself).
  const budgets = new WeakMap<Member, TokenBucket>();
  const signal = (typing: boolean): EventHandler => ({
    // Answered by the callback only: `typing` is also the event the others receive.
    reply: null,
    async handle(member, payload) {
      const p = asObject(payload);
      const type = parseChatType(p["type"]);
      const to = parseId(p["to"], "to");
      let budget = budgets.get(member);
      if (!budget) budgets.set(member, (budget = new TokenBucket(TYPING_PER_SEC, TYPING_BURST)));
      if (!budget.take()) throw new ProtocolError("RATE_LIMITED", "demasiados avisos de escritura; envía typing como mucho cada pocos segundos");
      if (type === "directo") {
        if (String(to) === member.userId) throw new ProtocolError("INVALID_ID", "to debe ser otro usuario");
      } else {
        // Only members type in a group.
        await ensureMember(ctx, member.userId, to);
      }
      await ctx.typing.publish(member.userId, type, to, typing);
      const reply: TypingReply = { status: "ok" };
      return reply;
    },
  });
  return { typing: signal(true), typing_stop: signal(false) };
}
