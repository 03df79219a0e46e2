import type { ServiceImpl } from "@connectrpc/connect";
import { assertActingAs, decodeFeedPosition, encodeFeedPosition, feedBefore, pageSize, requireId, startPeriodic, toTimestamp, type Logger, type Periodic } from "@redup/kit";
import type { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";
import type { DeliveryDb } from "./db/queries.js";
import { receiptChanges } from "./db/receipt-feed.js";

const PAGE_DEFAULT = 100;
const PAGE_MAX = 500;

/** ListReceiptChanges: the receipts of a sender's messages after a position the caller kept. */
export function createReceiptFeedHandler(db: DeliveryDb): Pick<ServiceImpl<typeof DeliveryService>, "listReceiptChanges"> {
  return {
    async listReceiptChanges(req, ctx) {
      const userId = requireId(req.userId, "user_id");
      assertActingAs(ctx, userId, "read the receipts feed");
      const limit = pageSize(req.pageSize, PAGE_DEFAULT, PAGE_MAX);
      if (req.after === "") return { receipts: [], next: encodeFeedPosition(await receiptChanges.head(db)), hasMore: false, tooFarBehind: false };
      const after = decodeFeedPosition(req.after, "after");
      const page = await receiptChanges.read(db, [userId], after, limit + 1);
      if (page.pruned && feedBefore(after, page.pruned)) return { receipts: [], next: encodeFeedPosition(page.horizon), hasMore: false, tooFarBehind: true };
      const rows = page.rows.slice(0, limit);
      const hasMore = page.rows.length > limit;
      return {
        receipts: rows.map((r) => ({ messageId: r.messageId, recipientId: r.recipientId, read: r.read, at: toTimestamp(r.at), roomId: r.roomId })),
        next: encodeFeedPosition(hasMore ? rows[rows.length - 1]!.position : page.horizon),
        hasMore,
        tooFarBehind: false,
      };
    },
  };
}

/** Prunes receipts older than the retention, every minute (or a quarter of a short retention). */
export function startReceiptFeedPruner(db: DeliveryDb, retentionSeconds: number, logger: Logger): Periodic {
  return startPeriodic(
    "[FEED] pruning old receipts",
    Math.min(60_000, Math.max(250, (retentionSeconds * 1000) / 4)),
    async () => {
      for (let round = 0; round < 10 && (await receiptChanges.prune(db, retentionSeconds)) > 0; round++);
    },
    logger,
  );
}
