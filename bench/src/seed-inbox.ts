import pg from "pg";

/** What the inbox scenario seeded for its user. */
export interface SeededInbox {
  userId: number;
  rooms: number;
  messages: number;
  unreadPerRoom: number;
  seedSeconds: number;
}

/**
 * Seeds one user's inbox straight into the database, as years of use would leave it: `rooms`
 * rooms (four in five direct, one in five groups the user belongs to), `perRoom` messages in
 * each (every other one from the user, the last one from the others), the recipient rows of the messages the user received
 * with all but the last `unread` of each room read, and each room's sequence row. Sending a
 * million messages through the edge would take the bench longer than the measurement itself;
 * the rows are the ones the services write (rooms', messages' and delivery's tables).
 */
export async function seedInbox(databaseUrl: string, userId: number, rooms: number, perRoom: number, unread: number): Promise<SeededInbox> {
  const client = new pg.Client({ connectionString: databaseUrl });
  // A dropped connection fails the statement in progress; it must not also crash the process.
  client.on("error", () => {});
  await client.connect();
  const started = Date.now();
  try {
    const groups = Math.floor(rooms / 5);
    const directs = rooms - groups;
    await client.query("begin");
    // The user's rooms: direct ones with fresh peers (stored smaller id first), and groups.
    await client.query(
      `insert into salas_chat (tipo_sala, usuario_a_id, usuario_b_id, creado_en)
       select 'directo', $1::bigint, $1::bigint + g, now() - interval '400 days' from generate_series(1, $2::int) g`,
      [userId, directs],
    );
    await client.query(`insert into chat_miembros_grupo (grupo_id, usuario_id) select $1::bigint + g, $1::bigint from generate_series(1, $2::int) g`, [userId, groups]);
    await client.query(
      `insert into salas_chat (tipo_sala, grupo_id, creado_en) select 'grupal', $1::bigint + g, now() - interval '400 days' from generate_series(1, $2::int) g`,
      [userId, groups],
    );
    await client.query(
      `create temp table inbox_rooms on commit drop as
       select id, row_number() over (order by id) as n, coalesce(usuario_b_id, $1::bigint + 1) as peer
       from salas_chat where (tipo_sala = 'directo' and usuario_a_id = $1::bigint) or (tipo_sala = 'grupal' and grupo_id between $1::bigint + 1 and $1::bigint + $2::int)`,
      [userId, groups],
    );
    // Messages: room n's last message is n seconds old plus the room's spacing, so rooms have distinct activity.
    await client.query(
      `insert into mensajes (sala_chat_id, remitente_id, contenido, enviado_en)
       select r.id, case when i % 2 = 1 then $1::bigint else r.peer end, 'mensaje ' || i,
              now() - (r.n * interval '1 second') - (($2::int - i) * interval '1 minute')
       from inbox_rooms r, generate_series(1, $2::int) i`,
      [userId, perRoom],
    );
    await client.query(
      `insert into salas_secuencia (sala_chat_id, ultimo_seq, ultimo_en)
       select r.id, $1::int, now() - (r.n * interval '1 second') from inbox_rooms r
       on conflict (sala_chat_id) do nothing`,
      [perRoom],
    );
    // Delivery's rows for what the user received: all read but the last `unread` of each room.
    await client.query(
      `insert into despachos_mensaje (mensaje_id, remitente_id, sala_chat_id)
       select m.id, m.remitente_id, m.sala_chat_id from mensajes m join inbox_rooms r on r.id = m.sala_chat_id where m.remitente_id <> $1::bigint`,
      [userId],
    );
    await client.query(
      `insert into destinatarios_mensaje (mensaje_id, destinatario_id, sala_chat_id, entregado_en, leido_en)
       select m.id, $1::bigint, m.sala_chat_id, m.enviado_en,
              case when row_number() over (partition by m.sala_chat_id order by m.id desc) > $2::int then m.enviado_en end
       from mensajes m join inbox_rooms r on r.id = m.sala_chat_id where m.remitente_id <> $1::bigint`,
      [userId, unread],
    );
    await client.query("commit");
    // Fresh statistics, as autovacuum would keep them on a running database.
    for (const table of ["salas_chat", "chat_miembros_grupo", "mensajes", "salas_secuencia", "despachos_mensaje", "destinatarios_mensaje"]) await client.query(`analyze ${table}`);
    return { userId, rooms, messages: rooms * perRoom, unreadPerRoom: unread, seedSeconds: (Date.now() - started) / 1000 };
  } catch (err) {
    await client.query("rollback").catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}
