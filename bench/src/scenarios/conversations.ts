import type { Histogram } from "hdr-histogram-js";
import { connect, Ledger, type BenchOptions } from "../clients.js";
import type { ScenarioResult } from "../report.js";
import { seedInbox, type SeededInbox } from "../seed-inbox.js";
import { latencyHistogram, nowUs, summarise, type LatencySummary } from "../stats.js";

export interface InboxSummary {
  seeded: SeededInbox;
  /** get_conversations, first page of 20, repeated. */
  firstPage: LatencySummary;
  /** Each page of a walk through the inbox, 20 at a time. */
  walkPage: LatencySummary;
  /** Pages walked, and rooms seen (each once). */
  pagesWalked: number;
  roomsWalked: number;
  /** mark_read with up_to on a room's last message. */
  markUpTo: LatencySummary;
  /** Unread in the first page's rooms before and after they were marked read. */
  unreadBefore: number;
  unreadAfter: number;
}

interface Conversation {
  sala_chat_id: string;
  unread: number;
  last_message: { mensaje_id: string; from: string } | null;
}
interface Page {
  status: string;
  conversations: Conversation[];
  next_before: string | null;
  code?: string;
}

/**
 * The inbox of a heavy user: seeds `rooms` rooms with `perRoom` messages each for one user,
 * then times get_conversations through the edge (the first page, over and over; a walk through
 * every page) and mark_read up_to, and checks the unread counts follow.
 */
export async function conversations(options: BenchOptions & { databaseUrl: string; rooms: number; perRoom: number; repeats: number }): Promise<ScenarioResult & { inbox: InboxSummary }> {
  const userId = options.userIdBase;
  const seeded = await seedInbox(options.databaseUrl, userId, options.rooms, options.perRoom, 5);
  const me = await connect(options.urls[0]!, userId, undefined);
  const ask = async (payload: object, histogram: Histogram): Promise<Page> => {
    const t0 = nowUs();
    const page = (await me.socket.timeout(30_000).emitWithAck("get_conversations", payload)) as Page;
    histogram.recordValue(Math.max(1, nowUs() - t0));
    if (page.status !== "ok") throw new Error(`get_conversations refused: ${page.code}`);
    return page;
  };
  const started = Date.now();
  options.window.start();
  const firstPage = latencyHistogram();
  let first: Page | undefined;
  for (let i = 0; i < options.repeats && Date.now() - started < options.seconds * 1000; i++) first = await ask({ limit: 20 }, firstPage);

  const walkPage = latencyHistogram();
  const seen = new Set<string>();
  let before: string | null = null;
  let pages = 0;
  do {
    const page: Page = await ask(before === null ? { limit: 20 } : { limit: 20, before }, walkPage);
    for (const c of page.conversations) seen.add(c.sala_chat_id);
    before = page.next_before;
    pages++;
  } while (before !== null && pages < options.rooms);

  // Read the first page's rooms up to their last message the user received.
  const markUpTo = latencyHistogram();
  const unreadBefore = first!.conversations.reduce((n, c) => n + c.unread, 0);
  for (const c of first!.conversations) {
    const last = c.last_message;
    // Only what the user received can be marked (the seed ends every room with the others' message).
    if (!last || last.from === String(userId)) continue;
    const t0 = nowUs();
    const reply = (await me.socket.timeout(30_000).emitWithAck("mark_read", { mensaje_id: last.mensaje_id, up_to: true })) as { status: string; code?: string };
    markUpTo.recordValue(Math.max(1, nowUs() - t0));
    if (reply.status !== "ok") throw new Error(`mark_read up_to refused: ${reply.code}`);
  }
  options.window.stop();
  const after = await ask({ limit: 20 }, latencyHistogram());
  const unreadAfter = after.conversations.reduce((n, c) => n + c.unread, 0);
  me.socket.disconnect();
  return {
    ledger: new Ledger(),
    sendSeconds: (Date.now() - started) / 1000,
    setup: latencyHistogram(),
    connectErrors: 0,
    connections: 1,
    inbox: {
      seeded,
      firstPage: summarise(firstPage),
      walkPage: summarise(walkPage),
      pagesWalked: pages,
      roomsWalked: seen.size,
      markUpTo: summarise(markUpTo),
      unreadBefore,
      unreadAfter,
    },
  };
}
