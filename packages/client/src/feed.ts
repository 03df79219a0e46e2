import type { FeedChange, SyncedReply } from "@redup/edge/events";

/**
 * Reads the change feed from `since` to its end, page by page (`sync` while `has_more`),
 * handing each page over before asking for the next. Resolves with the new cursor, and
 * whether the server no longer had `since` (too far behind: the app must reload).
 */
export async function readFeed(
  sync: (since: string | null) => Promise<SyncedReply>,
  since: string | undefined,
  apply: (changes: FeedChange[], cursor: string) => void,
): Promise<{ cursor: string; tooFarBehind: boolean }> {
  let cursor = since ?? null;
  for (;;) {
    const page = await sync(cursor);
    apply(page.changes, page.cursor);
    if (page.too_far_behind) return { cursor: page.cursor, tooFarBehind: true };
    cursor = page.cursor;
    // Without `since` the server answers only with a starting cursor.
    if (!page.has_more || since === undefined) return { cursor, tooFarBehind: false };
  }
}
