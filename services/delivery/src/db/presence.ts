import { preparedQuery, transaction } from "@redup/kit";
import { sql } from "drizzle-orm";
import type { DeliveryDb } from "./queries.js";

/** A user who came online or went offline, and when. */
export interface PresenceChange {
  userId: bigint;
  online: boolean;
  at: Date;
}

const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));
/** The rows of a raw statement run in a transaction (node-postgres and PGlite answer alike). */
const rowsOf = <R>(result: unknown): R[] => (result as { rows: R[] }).rows;

/**
 * Applies one edge's reports (the last report of each user wins) and answers who changed: a
 * user comes online when this edge is the first to hold them, and goes offline (last seen
 * now) when this edge was the last. Runs after the users' advisory locks are held, so it sees
 * every other edge's committed reports of the same users.
 */
const applyReports = (edgeId: string, users: string, online: string) => sql`
with r as (
  select * from unnest(${users}::bigint[], ${online}::boolean[]) with ordinality as r(usuario, online, n)
), f as (
  select distinct on (usuario) usuario, online from r order by usuario, n desc
), antes as (
  select f.usuario, f.online,
         exists (select 1 from presencia p where p.usuario_id = f.usuario) as habia,
         exists (select 1 from presencia p where p.usuario_id = f.usuario and p.edge_id <> ${edgeId}) as otros
  from f
), alta as (
  insert into presencia (usuario_id, edge_id) select usuario, ${edgeId} from f where online
  on conflict do nothing
), baja as (
  delete from presencia p using f where not f.online and p.usuario_id = f.usuario and p.edge_id = ${edgeId}
  returning p.usuario_id
), visto as (
  insert into ultima_conexion (usuario_id, visto_en)
  select usuario, now() from antes where online or (habia and not otros)
  on conflict (usuario_id) do update set visto_en = now()
)
select usuario::text as usuario, online, now() as en from antes
where (online and not habia) or (not online and not otros and usuario in (select usuario_id from baja))`;

/**
 * Records which users an edge holds. Each user's reports are serialised by an advisory lock
 * (taken in user order, so two edges never deadlock), in a statement before the changes: under
 * READ COMMITTED the next statement then sees what another edge committed for those users, so
 * two edges letting go of one user at once never both miss that it went offline.
 */
export async function reportPresence(db: DeliveryDb, edgeId: string, reports: { userId: bigint; online: boolean }[]): Promise<PresenceChange[]> {
  const users = [...new Set(reports.map((r) => r.userId))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return transaction(db, async (tx) => {
    await tx.execute(sql`select count(pg_advisory_xact_lock(hashtextextended('presencia:' || u::text, 0))) from unnest(${`{${users.join(",")}}`}::bigint[]) u`);
    await tx.execute(sql`insert into edges_vivos (edge_id, visto_en) values (${edgeId}, now()) on conflict (edge_id) do update set visto_en = now()`);
    const rows = rowsOf<{ usuario: string; online: boolean; en: unknown }>(
      await tx.execute(applyReports(edgeId, `{${reports.map((r) => r.userId).join(",")}}`, `{${reports.map((r) => (r.online ? "t" : "f")).join(",")}}`)),
    );
    return rows.map((r) => ({ userId: BigInt(r.usuario), online: r.online, at: date(r.en) }));
  });
}

/**
 * Lets go of every user of the given edges and forgets the edges (a dead edge, or one that
 * restarted or is stopping): users no other edge holds go offline, last seen now. Returns them.
 */
const release = (edges: string) => sql`
with quitados as (
  delete from presencia p where p.edge_id = any(${edges}::text[]) returning p.usuario_id
), fuera as (
  select distinct q.usuario_id from quitados q
  where not exists (select 1 from presencia p2 where p2.usuario_id = q.usuario_id and p2.edge_id <> all(${edges}::text[]))
), visto as (
  insert into ultima_conexion (usuario_id, visto_en) select usuario_id, now() from fuera
  on conflict (usuario_id) do update set visto_en = now()
  returning usuario_id, visto_en
)
select usuario_id::text as usuario, visto_en from visto`;

async function releaseEdges(db: DeliveryDb, edgeIds: string[]): Promise<PresenceChange[]> {
  if (edgeIds.length === 0) return [];
  // Same locks as reportPresence, for the same reason: the users of these edges, in order.
  // Edge ids are EDGE_ID values ([A-Za-z0-9_.-]), safe inside an array literal.
  const edges = `{${edgeIds.join(",")}}`;
  return transaction(db, async (tx) => {
    await tx.execute(sql`select count(pg_advisory_xact_lock(hashtextextended('presencia:' || u::text, 0)))
      from (select distinct usuario_id as u from presencia where edge_id = any(${edges}::text[]) order by 1) x`);
    const rows = rowsOf<{ usuario: string; visto_en: unknown }>(await tx.execute(release(edges)));
    return rows.map((r) => ({ userId: BigInt(r.usuario), online: false, at: date(r.visto_en) }));
  });
}

/**
 * An edge is alive; with `reset` it holds nobody any more. Answers who went offline, and
 * whether the edge was known (not taken for dead meanwhile).
 */
export async function edgeHeartbeat(db: DeliveryDb, edgeId: string, reset: boolean): Promise<{ changes: PresenceChange[]; known: boolean }> {
  const changes = reset ? await releaseEdges(db, [edgeId]) : [];
  const [row] = await preparedQuery<{ nuevo: boolean }>(
    db,
    "delivery_edge_heartbeat",
    // xmax is 0 on a freshly inserted row: the edge was not in the table.
    "insert into edges_vivos (edge_id, visto_en) values ($1, now()) on conflict (edge_id) do update set visto_en = now() returning (xmax = 0) as nuevo",
    [edgeId],
  );
  return { changes, known: !reset && row?.nuevo === false };
}

/**
 * Takes the edges silent for `silentMs` for dead and lets go of their users. Replicas may run
 * it at once: an edge is claimed by the one whose delete removed its row.
 */
export async function reapDeadEdges(db: DeliveryDb, silentMs: number): Promise<PresenceChange[]> {
  const dead = await preparedQuery<{ edge_id: string }>(db, "delivery_dead_edges", "delete from edges_vivos where visto_en < now() - $1::interval returning edge_id", [
    `${silentMs} milliseconds`,
  ]);
  return releaseEdges(
    db,
    dead.map((d) => d.edge_id),
  );
}

/** Whether each user is online (an edge holds them) and when they were last seen. */
export async function presenceOf(db: DeliveryDb, userIds: bigint[]): Promise<Map<bigint, { online: boolean; lastSeen: Date | undefined }>> {
  const rows = await preparedQuery<{ usuario: string; online: boolean; visto_en: unknown }>(
    db,
    "delivery_presence_of",
    `select u::text as usuario,
            exists (select 1 from presencia p where p.usuario_id = u) as online,
            (select visto_en from ultima_conexion c where c.usuario_id = u) as visto_en
     from unnest($1::bigint[]) u`,
    [userIds],
  );
  return new Map(rows.map((r) => [BigInt(r.usuario), { online: r.online === true, lastSeen: r.visto_en === null ? undefined : date(r.visto_en) }]));
}
