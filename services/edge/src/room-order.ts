/**
 * Puts each room's live messages back in the room's order before they reach sockets.
 *
 * Every stored message carries its room_seq (1, 2, 3… in the order the room's messages were
 * stored, whichever messages replica stored them). Events of one room can still arrive out
 * of order — two replicas publish at the same moment, a NATS cluster routes them apart, or
 * one is published late by a retry — so each stream (a user's or a group's subject on this
 * edge) follows each room's last delivered room_seq, and:
 * - delivers the next one at once, and any held ones that follow it;
 * - holds one that comes early, for `windowMs`, while the missing ones arrive; then fetches
 *   the still-missing ones from the messages service and delivers them first;
 * - delivers a late or repeated one at once (sockets drop what they already have), so a
 *   message is never lost for the sake of order.
 * A room seen for the first time starts where its first event is, unless the room's
 * previous message was stored a moment ago (its event may be on its way): then the first
 * event waits up to `windowMs` for it.
 */

/** One message event, as ordering sees it. */
export interface Ordered<M> {
  roomId: bigint;
  id: bigint;
  /** 0: not ordered (a message the edge could not store). */
  seq: bigint;
  /** When the room's previous message was stored (ms since the epoch), if known. */
  previousSentAt: number | undefined;
  message: M;
}

export interface RoomOrderOptions<M> {
  windowMs: number;
  /** Hands a message to the stream's sockets, in order. */
  deliver(stream: string, message: M): void;
  /**
   * The room's messages with ids in (afterId, beforeId), oldest first; each with its id and
   * whether it was deleted (a deleted message takes its place but is not delivered).
   */
  fetch(roomId: bigint, afterId: bigint, beforeId: bigint, count: number): Promise<{ id: bigint; message: M | undefined }[]>;
  /** Counts what happened to events, by outcome. */
  count?: (outcome: "held" | "late" | "filled" | "unfilled") => void;
}

/** Gaps larger than this are not fetched: the messages arrive at the next connect (catch-up). */
const MAX_FETCH = 500;
/** A first event waits for its predecessor only when that one is younger than this. */
const RECENT_MS = 2000;

interface Chain<M> {
  /** room_seq and id of the last message delivered; seq 0 while the first event waits. */
  seq: bigint;
  id: bigint;
  held: Map<bigint, Ordered<M>>;
  timer: NodeJS.Timeout | undefined;
  fetching: boolean;
}

export interface RoomOrder<M> {
  accept(stream: string, event: Ordered<M>): void;
  /**
   * Runs `then` once the stream has delivered the room's message `id` (or a later one), so
   * what follows a message (its edit, its deletion) never overtakes it. At once when it has,
   * or when the stream never saw the room and the message is older than a live event could
   * still be (`sentAtMs`); at the latest after `maxWaitMs`.
   */
  after(stream: string, roomId: bigint, id: bigint, sentAtMs: number, maxWaitMs: number, then: () => void): void;
  /** Forgets a stream (no socket here listens to it any more). */
  forget(stream: string): void;
}

export function createRoomOrder<M>(options: RoomOrderOptions<M>): RoomOrder<M> {
  const streams = new Map<string, Map<bigint, Chain<M>>>();
  /** What waits for a room's message to be delivered on a stream, by stream and room. */
  const waiting = new Map<string, Map<bigint, { id: bigint; run: () => void }[]>>();

  /** Runs what waited for messages up to `id` of the room on the stream. */
  const release = (stream: string, roomId: bigint, id: bigint) => {
    const rooms = waiting.get(stream);
    const list = rooms?.get(roomId);
    if (!list) return;
    const ready = list.filter((w) => w.id <= id);
    if (ready.length === 0) return;
    const rest = list.filter((w) => w.id > id);
    if (rest.length > 0) rooms!.set(roomId, rest);
    else {
      rooms!.delete(roomId);
      if (rooms!.size === 0) waiting.delete(stream);
    }
    for (const w of ready) w.run();
  };

  /** Hands one message to the stream and lets go of what waited for it. */
  const emit = (stream: string, event: Pick<Ordered<M>, "roomId" | "id">, message: M | undefined) => {
    if (message !== undefined) options.deliver(stream, message);
    release(stream, event.roomId, event.id);
  };

  const deliverHeldRun = (stream: string, chain: Chain<M>) => {
    for (let next = chain.held.get(chain.seq + 1n); next; next = chain.held.get(chain.seq + 1n)) {
      chain.held.delete(next.seq);
      chain.seq = next.seq;
      chain.id = next.id;
      emit(stream, next, next.message);
    }
  };

  /** Delivers everything held, in room order, gaps or not (the missing ones come at the next connect). */
  const flush = (stream: string, chain: Chain<M>) => {
    for (const seq of [...chain.held.keys()].sort((a, b) => (a < b ? -1 : 1))) {
      const event = chain.held.get(seq)!;
      chain.held.delete(seq);
      chain.seq = event.seq;
      chain.id = event.id;
      emit(stream, event, event.message);
    }
  };

  const arm = (stream: string, chain: Chain<M>) => {
    chain.timer ??= setTimeout(() => {
      chain.timer = undefined;
      void settle(stream, chain);
    }, options.windowMs);
  };

  /** Fetches the messages missing before the first held one; true when all came. */
  const fill = async (chain: Chain<M>, stream: string): Promise<boolean> => {
    const first = [...chain.held.values()].reduce((a, b) => (a.seq < b.seq ? a : b));
    const missing = first.seq - chain.seq - 1n;
    if (missing <= 0n) return true;
    if (missing > BigInt(MAX_FETCH)) return false;
    chain.fetching = true;
    try {
      const found = await options.fetch(first.roomId, chain.id, first.id, Number(missing));
      if (BigInt(found.length) !== missing) return false;
      for (const { id, message } of found) {
        chain.seq += 1n;
        chain.id = id;
        emit(stream, { roomId: first.roomId, id }, message);
      }
      return true;
    } catch {
      return false;
    } finally {
      chain.fetching = false;
    }
  };

  /** The window is over: fetch what is still missing, deliver it, then what was held. */
  const settle = async (stream: string, chain: Chain<M>) => {
    if (chain.held.size === 0 || chain.fetching) return;
    if (chain.seq === 0n) {
      // A first event waited for its predecessor; what arrived meanwhile goes out in order.
      flush(stream, chain);
      return;
    }
    // A few rounds: events that arrive during a fetch may open a further gap.
    for (let round = 0; round < 4 && chain.held.size > 0; round++) {
      const filled = await fill(chain, stream);
      options.count?.(filled ? "filled" : "unfilled");
      if (!filled) break;
      deliverHeldRun(stream, chain);
    }
    // Still a gap (the fetch failed or came short): give up on it rather than hold forever.
    flush(stream, chain);
  };

  return {
    accept(stream, event) {
      if (event.seq === 0n) {
        emit(stream, event, event.message);
        return;
      }
      let rooms = streams.get(stream);
      if (!rooms) streams.set(stream, (rooms = new Map()));
      let chain = rooms.get(event.roomId);
      if (!chain) {
        chain = { seq: 0n, id: 0n, held: new Map(), timer: undefined, fetching: false };
        rooms.set(event.roomId, chain);
        const recent = event.previousSentAt !== undefined && Date.now() - event.previousSentAt < RECENT_MS;
        if (event.seq === 1n || !recent) {
          chain.seq = event.seq;
          chain.id = event.id;
          emit(stream, event, event.message);
        } else {
          options.count?.("held");
          chain.held.set(event.seq, event);
          arm(stream, chain);
        }
        return;
      }
      if (chain.seq === 0n) {
        // Still waiting to learn where this room starts.
        chain.held.set(event.seq, event);
        return;
      }
      if (event.seq <= chain.seq) {
        options.count?.("late");
        emit(stream, event, event.message);
        return;
      }
      if (event.seq === chain.seq + 1n && !chain.fetching) {
        chain.seq = event.seq;
        chain.id = event.id;
        emit(stream, event, event.message);
        deliverHeldRun(stream, chain);
        if (chain.held.size === 0 && chain.timer) {
          clearTimeout(chain.timer);
          chain.timer = undefined;
        }
        return;
      }
      options.count?.("held");
      chain.held.set(event.seq, event);
      if (!chain.fetching) arm(stream, chain);
    },
    after(stream, roomId, id, sentAtMs, maxWaitMs, then) {
      const chain = streams.get(stream)?.get(roomId);
      const delivered = chain !== undefined && chain.seq !== 0n && chain.id >= id;
      const settled = chain === undefined && Date.now() - sentAtMs >= RECENT_MS;
      if (delivered || settled) return then();
      let done = false;
      const waiter = {
        id,
        run() {
          if (done) return;
          done = true;
          clearTimeout(timer);
          then();
        },
      };
      // Waited long enough (the message itself is lost to this stream): run, and leave the list.
      const timer = setTimeout(() => {
        const list = waiting.get(stream)?.get(roomId);
        if (list) waiting.get(stream)!.set(roomId, list.filter((w) => w !== waiter));
        waiter.run();
      }, maxWaitMs);
      timer.unref();
      let rooms = waiting.get(stream);
      if (!rooms) waiting.set(stream, (rooms = new Map()));
      rooms.set(roomId, [...(rooms.get(roomId) ?? []), waiter]);
    },
    forget(stream) {
      waiting.delete(stream);
      const rooms = streams.get(stream);
      if (!rooms) return;
      for (const chain of rooms.values()) clearTimeout(chain.timer);
      streams.delete(stream);
    },
  };
}
