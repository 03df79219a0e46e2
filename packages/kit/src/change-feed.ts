import { preparedQuery, type Db } from "./db.js";
import type { FeedPosition } from "./feed-position.js";

/**
 * A change feed table: rows with (pos bigserial, xid xid8 default pg_current_xact_id(), a key
 * column, …, en timestamptz), an index on (key, xid, pos), and a one-row table of how far it
 * was pruned (id, xid, pos). The messages service's cambios_sala and delivery's cambios_recibo
 * are both read and pruned with these statements.
 */
export interface FeedTable {
  /** The feed's table. */
  table: string;
  /** Its pruned mark's table. */
  prunedTable: string;
  /** The column a reader's rows are found by (a room, a sender). */
  key: string;
  /** The other columns a reader gets, as a select list over the table aliased `c`. */
  columns: string;
  /** A name for the prepared statements. */
  name: string;
}

/** One page of a feed: the rows, the horizon a reader with nothing left may move to, the pruned mark. */
export interface FeedRead<R> {
  rows: (R & { position: FeedPosition })[];
  horizon: FeedPosition;
  pruned: FeedPosition | undefined;
}

interface RawFeedRow {
  horizonte: string;
  poda_xid: string | null;
  poda_pos: string | null;
  pos: string | null;
  xid: string | null;
  [column: string]: unknown;
}

/**
 * Reads and prunes one feed table. Rows are read in (xid, pos) order, only from transactions
 * older than the oldest one still running (pg_snapshot_xmin): everything below that horizon
 * has committed or aborted, so no row can later appear behind a position already read.
 */
export function changeFeed<R>(feed: FeedTable, toRow: (raw: Record<string, unknown>) => R) {
  const page = `
with h as (select pg_snapshot_xmin(pg_current_snapshot()) as horizonte)
select h.horizonte::text as horizonte,
       (select xid::text from ${feed.prunedTable} where id = 1) as poda_xid,
       (select pos::text from ${feed.prunedTable} where id = 1) as poda_pos,
       c.*
from h left join lateral (
  select c.pos::text as pos, c.xid::text as xid, ${feed.columns} from ${feed.table} c
  where c.${feed.key} = any($1::bigint[]) and (c.xid, c.pos) > ($2::text::xid8, $3::bigint) and c.xid < h.horizonte
  order by c.xid, c.pos
  limit $4
) c on true
order by c.xid, c.pos`;
  const prune = `
with borrados as (
  delete from ${feed.table} where pos in (select pos from ${feed.table} where en < now() - $1::interval order by en limit $2)
  returning xid, pos
), ultimo as (
  select xid, pos from borrados order by xid desc, pos desc limit 1
), marca as (
  insert into ${feed.prunedTable} as p (id, xid, pos) select 1, xid, pos from ultimo
  on conflict (id) do update set xid = excluded.xid, pos = excluded.pos where (p.xid, p.pos) < (excluded.xid, excluded.pos)
)
select count(*)::int as n from borrados`;

  return {
    /** The rows of these keys after a position, at most `limit`. */
    async read(db: Db<Record<string, unknown>>, keys: bigint[], after: FeedPosition, limit: number): Promise<FeedRead<R>> {
      const raw = await preparedQuery<RawFeedRow>(db, `${feed.name}_page`, page, [keys, after.xid, after.pos, limit]);
      const first = raw[0]!;
      return {
        rows: raw.filter((r) => r.pos !== null).map((r) => ({ ...toRow(r), position: { xid: r.xid!, pos: BigInt(r.pos!) } })),
        horizon: { xid: first.horizonte, pos: 0n },
        pruned: first.poda_xid === null ? undefined : { xid: first.poda_xid, pos: BigInt(first.poda_pos!) },
      };
    },
    /** The current position: everything committed so far is before it. */
    async head(db: Db<Record<string, unknown>>): Promise<FeedPosition> {
      const [row] = await preparedQuery<{ h: string }>(db, "feed_head", "select pg_snapshot_xmin(pg_current_snapshot())::text as h", []);
      return { xid: row!.h, pos: 0n };
    },
    /** Drops up to `batch` rows older than the retention and moves the pruned mark; answers how many went. */
    async prune(db: Db<Record<string, unknown>>, retentionSeconds: number, batch = 10_000): Promise<number> {
      const [row] = await preparedQuery<{ n: number }>(db, `${feed.name}_prune`, prune, [`${retentionSeconds} seconds`, batch]);
      return Number(row?.n ?? 0);
    },
  };
}
