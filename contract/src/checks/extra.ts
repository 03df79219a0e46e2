import assert from "node:assert/strict";
import type { ServiceName } from "../context.js";
import type { Check } from "./types.js";

/** A check of the servers' behaviour that no single RPC's check covers. */
export interface ExtraCheck {
  name: string;
  where: ServiceName;
  run: Check;
}

export const extraChecks: ExtraCheck[] = [
  {
    name: "undecodable request bytes are refused with INTERNAL, and the server keeps serving",
    where: "messages",
    run: async ({ target, messages, ids, refusal }) => {
      const failure = await target.raw("/redup.messages.v1.MessagesService/GetMessage", Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x12]));
      // As in grpc-go and connect-es, a request body that does not parse is INTERNAL, with the reason.
      assert.equal(failure?.code, 13);
      assert.match(decodeURIComponent(failure?.details ?? ""), /parse binary/);
      assert.equal(await refusal(messages("GetMessage", { messageId: ids.unknown })), "NOT_FOUND");
    },
  },
  {
    name: "an unknown method is UNIMPLEMENTED",
    where: "rooms",
    run: async ({ target }) => {
      const failure = await target.raw("/redup.rooms.v1.RoomsService/NoSuchMethod", Buffer.alloc(0));
      assert.equal(failure?.code, 12);
    },
  },
];
