import { createSingleFlight, type Db, preparedQuery, type SingleFlight, transaction } from "@redup/kit";
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { chatMiembrosGrupo, salasChat, type MiembroGrupo, type SalaChat } from "./schema.js";
import * as schema from "./schema.js";

export type RoomsDb = Db<typeof schema>;

const directPair = (lo: bigint, hi: bigint) =>
  and(
    eq(salasChat.tipoSala, "directo"),
    sql`least(${salasChat.usuarioAId}, ${salasChat.usuarioBId}) = ${lo}`,
    sql`greatest(${salasChat.usuarioAId}, ${salasChat.usuarioBId}) = ${hi}`,
  );

const groupRoom = (groupId: bigint) => and(eq(salasChat.tipoSala, "grupal"), eq(salasChat.grupoId, groupId));

/**
 * Find-or-create under a transaction-scoped advisory lock keyed by the room's identity:
 * concurrent callers for the same pair or group serialise, and the second finds the first's
 * row. The lock works on databases whose legacy rows would block a unique index.
 */
async function findOrCreateLocked(
  db: RoomsDb,
  lockKey: string,
  where: ReturnType<typeof and>,
  values: typeof salasChat.$inferInsert,
): Promise<{ room: SalaChat; created: boolean }> {
  const [found] = await db.select().from(salasChat).where(where).orderBy(asc(salasChat.id)).limit(1);
  if (found) return { room: found, created: false };
  return transaction(db, async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`);
    const [existing] = await tx.select().from(salasChat).where(where).orderBy(asc(salasChat.id)).limit(1);
    if (existing) return { room: existing, created: false };
    const [room] = await tx.insert(salasChat).values(values).returning();
    return { room: room!, created: true };
  });
}

/**
 * Concurrent calls for the same room in this process share one lookup: without this, the
 * first messages or joins of a new room each took a pool connection and queued on the
 * advisory lock one after another (50 joins of a new group took seconds). Only the call that
 * did the work reports `created`.
 */
const flightsByDb = new WeakMap<RoomsDb, SingleFlight<{ room: SalaChat; created: boolean }>>();
async function findOrCreate(
  db: RoomsDb,
  lockKey: string,
  where: ReturnType<typeof and>,
  values: typeof salasChat.$inferInsert,
): Promise<{ room: SalaChat; created: boolean }> {
  let flight = flightsByDb.get(db);
  if (!flight) flightsByDb.set(db, (flight = createSingleFlight()));
  const { result, leader } = flight(lockKey, () => findOrCreateLocked(db, lockKey, where, values));
  const found = await result;
  return leader ? found : { room: found.room, created: false };
}

export function resolveDirectRoom(db: RoomsDb, userId: bigint, peerId: bigint) {
  const [lo, hi] = userId < peerId ? [userId, peerId] : [peerId, userId];
  return findOrCreate(db, `redup:sala:directo:${lo}:${hi}`, directPair(lo, hi), {
    tipoSala: "directo",
    usuarioAId: lo,
    usuarioBId: hi,
  });
}

/** The direct room of a pair, if it exists; never creates one. */
export async function findDirectRoom(db: RoomsDb, userId: bigint, peerId: bigint): Promise<SalaChat | undefined> {
  const [lo, hi] = userId < peerId ? [userId, peerId] : [peerId, userId];
  const [found] = await db.select().from(salasChat).where(directPair(lo, hi)).orderBy(asc(salasChat.id)).limit(1);
  return found;
}

export function resolveGroupRoom(db: RoomsDb, groupId: bigint) {
  return findOrCreate(db, `redup:sala:grupal:${groupId}`, groupRoom(groupId), { tipoSala: "grupal", grupoId: groupId });
}

export async function getRoom(db: RoomsDb, roomId: bigint): Promise<SalaChat | undefined> {
  const [room] = await db.select().from(salasChat).where(eq(salasChat.id, roomId));
  return room;
}

/** Adds a membership; returns it and whether it already existed. */
export async function addMember(db: RoomsDb, groupId: bigint, userId: bigint): Promise<{ member: MiembroGrupo; existed: boolean }> {
  const [inserted] = await db
    .insert(chatMiembrosGrupo)
    .values({ grupoId: groupId, usuarioId: userId })
    .onConflictDoNothing()
    .returning();
  if (inserted) return { member: inserted, existed: false };
  const [existing] = await db
    .select()
    .from(chatMiembrosGrupo)
    .where(and(eq(chatMiembrosGrupo.grupoId, groupId), eq(chatMiembrosGrupo.usuarioId, userId)));
  // A concurrent leave between the two statements: report the join as a fresh one.
  if (!existing) return addMember(db, groupId, userId);
  return { member: existing, existed: true };
}

export async function removeMember(db: RoomsDb, groupId: bigint, userId: bigint): Promise<boolean> {
  const removed = await db
    .delete(chatMiembrosGrupo)
    .where(and(eq(chatMiembrosGrupo.grupoId, groupId), eq(chatMiembrosGrupo.usuarioId, userId)))
    .returning({ grupoId: chatMiembrosGrupo.grupoId });
  return removed.length > 0;
}

export async function isMember(db: RoomsDb, groupId: bigint, userId: bigint): Promise<boolean> {
  const rows = await db
    .select({ one: sql<number>`1` })
    .from(chatMiembrosGrupo)
    .where(and(eq(chatMiembrosGrupo.grupoId, groupId), eq(chatMiembrosGrupo.usuarioId, userId)))
    .limit(1);
  return rows.length > 0;
}

/** Which of these (group, user) pairs are memberships, as "group:user" keys. */
export async function membersAmong(db: RoomsDb, pairs: { groupId: bigint; userId: bigint }[]): Promise<Set<string>> {
  const rows = await db
    .select({ grupoId: chatMiembrosGrupo.grupoId, usuarioId: chatMiembrosGrupo.usuarioId })
    .from(chatMiembrosGrupo)
    .where(
      sql`(${chatMiembrosGrupo.grupoId}, ${chatMiembrosGrupo.usuarioId}) in (select * from unnest(${`{${pairs.map((p) => p.groupId).join(",")}}`}::bigint[], ${`{${pairs.map((p) => p.userId).join(",")}}`}::bigint[]))`,
    );
  return new Set(rows.map((r) => `${r.grupoId}:${r.usuarioId}`));
}

/** The most rooms ListUserRooms answers for one user. */
export const USER_ROOMS_MAX = 20_000;

/** A user's rooms: direct ones on either side of the pair, and those of the user's groups. */
export const USER_ROOMS = `
select id::text, tipo_sala, peer::text, creado_en from (
  select s.id, s.tipo_sala, case when s.usuario_a_id = $1 then s.usuario_b_id else s.usuario_a_id end as peer, s.creado_en
  from salas_chat s where s.tipo_sala = 'directo' and s.usuario_a_id = $1
  union all
  select s.id, s.tipo_sala, s.usuario_a_id, s.creado_en
  from salas_chat s where s.tipo_sala = 'directo' and s.usuario_b_id = $1 and s.usuario_a_id is distinct from $1
  union all
  select s.id, s.tipo_sala, s.grupo_id, s.creado_en
  from chat_miembros_grupo m join salas_chat s on s.tipo_sala = 'grupal' and s.grupo_id = m.grupo_id
  where m.usuario_id = $1
) r order by id limit $2`;

export interface UserRoomRow {
  id: string;
  tipo_sala: "directo" | "grupal";
  peer: string;
  creado_en: unknown;
}

/** Up to `limit` rooms of a user, by room id (prepared; the partial indexes on either side of a pair). */
export function roomsOfUser(db: RoomsDb, userId: bigint, limit: number): Promise<UserRoomRow[]> {
  return preparedQuery<UserRoomRow>(db, "rooms_of_user", USER_ROOMS, [userId, limit]);
}

/** Every member of each group, by group, ascending (one prepared statement, the ids as one array). */
export async function memberIdsOf(db: RoomsDb, groupIds: bigint[]): Promise<Map<bigint, bigint[]>> {
  const rows = await preparedQuery<{ grupo_id: string; usuario_id: string }>(
    db,
    "rooms_member_ids",
    "select grupo_id::text, usuario_id::text from chat_miembros_grupo where grupo_id = any($1::bigint[]) order by grupo_id, usuario_id",
    [groupIds],
  );
  const members = new Map<bigint, bigint[]>();
  for (const row of rows) {
    const group = BigInt(row.grupo_id);
    let list = members.get(group);
    if (!list) members.set(group, (list = []));
    list.push(BigInt(row.usuario_id));
  }
  return members;
}

/** A page of members after a user id, ascending; one extra row tells whether more exist. */
export function listMembers(db: RoomsDb, groupId: bigint, afterUserId: bigint | undefined, limit: number) {
  return db
    .select()
    .from(chatMiembrosGrupo)
    .where(and(eq(chatMiembrosGrupo.grupoId, groupId), afterUserId ? gt(chatMiembrosGrupo.usuarioId, afterUserId) : undefined))
    .orderBy(asc(chatMiembrosGrupo.usuarioId))
    .limit(limit + 1);
}

/** A page of a user's memberships after a group id, ascending, with one extra row. */
export function listGroupsOf(db: RoomsDb, userId: bigint, afterGroupId: bigint | undefined, limit: number) {
  return db
    .select()
    .from(chatMiembrosGrupo)
    .where(and(eq(chatMiembrosGrupo.usuarioId, userId), afterGroupId ? gt(chatMiembrosGrupo.grupoId, afterGroupId) : undefined))
    .orderBy(asc(chatMiembrosGrupo.grupoId))
    .limit(limit + 1);
}
