import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { onBehalfOf } from "@redup/kit";
import { codeOf } from "@redup/kit/testing";
import { describe, expect, it } from "vitest";
import { direct, useDeliveryStack } from "./harness.js";

const stack = useDeliveryStack();
const feed = (userId: bigint, after: string, pageSize = 0) => stack.client.listReceiptChanges({ userId, after, pageSize });

describe("ListReceiptChanges", () => {
  it("replays the receipts of a sender's messages in the order they were recorded", async () => {
    const start = (await feed(801n, "")).next;
    for (const id of [4001n, 4002n, 4003n]) await stack.client.dispatch({ message: direct(id, 801n, 802n, 9401n) });
    await stack.client.dispatch({ message: direct(4004n, 803n, 802n, 9402n) }); // another sender's
    const delivered = await stack.client.markDelivered({ messageId: 4001n, userId: 802n });
    await stack.client.markRead({ messageId: 4001n, userId: 802n });
    await stack.client.markReadUpTo({ messageId: 4003n, userId: 802n });
    await stack.client.markDelivered({ messageId: 4001n, userId: 802n }); // a repeat: no receipt

    const page = await feed(801n, start);
    expect(page).toMatchObject({ hasMore: false, tooFarBehind: false });
    expect(page.receipts.map((r) => [r.messageId, r.recipientId, r.read, r.roomId])).toEqual([
      [4001n, 802n, false, 9401n],
      [4001n, 802n, true, 9401n],
      [4002n, 802n, true, 9401n],
      [4003n, 802n, true, 9401n],
    ]);
    expect(timestampMs(page.receipts[0]!.at!)).toBe(timestampMs(delivered.receipt!.deliveredAt!));
    expect((await feed(801n, page.next)).receipts).toEqual([]);
    // Pages of one go through the same receipts.
    const seen = [];
    let after = start;
    for (let round = 0; round < 10; round++) {
      const one = await feed(801n, after, 1);
      seen.push(...one.receipts.map((r) => r.messageId));
      after = one.next;
      if (!one.hasMore) break;
    }
    expect(seen).toEqual([4001n, 4001n, 4002n, 4003n]);
  });

  it("answers only the acting user, and refuses bad input", async () => {
    expect(await codeOf(stack.client.listReceiptChanges({ userId: 801n, after: "" }, onBehalfOf(802n)))).toBe(Code.PermissionDenied);
    for (const after of ["x", "1", "1.2.3"]) expect(await codeOf(feed(801n, after))).toBe(Code.InvalidArgument);
    expect(await codeOf(feed(801n, "", 501))).toBe(Code.InvalidArgument);
  });
});
