/**
 * One chat user of the fault harness, as a careful client app behaves: it dedupes what it
 * receives by mensaje_id, confirms delivery, and after every (re)connect drains its change
 * feed (`sync` from the cursor it kept) to learn of edits and deletes it missed live. What it
 * saw is kept across its sockets, as an app keeps its local store.
 */
import type { ConnectedEvent, MessageRemovedEvent, MessageUpdatedEvent, ReceivedMessage, SyncedReply } from "@redup/edge/events";
import { io, type Socket } from "socket.io-client";

/** What a user has seen, across all its sockets. */
export interface Seen {
  /** mensaje_id → logical key of every stored message received (live or by catch-up). */
  messages: Map<string, string>;
  /** Logical key → the identities it arrived under (mensaje_ids; "unsaved" for a fallback copy). */
  identities: Map<string, Set<string>>;
  /** receive_message events, before dedupe. */
  raw: number;
  /** mensaje_id → the edited texts learned, and how. */
  edits: Map<string, Set<string>>;
  /** mensaje_ids whose deletion was learned. */
  removals: Set<string>;
  /** Edits and deletes learned live (message_updated / message_removed) and through sync. */
  live: number;
  viaSync: number;
  /** Sync answers that said "too far behind" (the feed no longer held the cursor). */
  tooFarBehind: number;
  /** The change-feed cursor the app keeps (null until the first sync answered). */
  cursor: string | null;
}

export interface User {
  id: number;
  socket: Socket;
  seen: Seen;
  /** Drains the change feed from the kept cursor; errors leave the cursor for the next try. */
  sync(): Promise<void>;
}

/** The sender's key of a message: its text without the first letter (m = sent, e = edited). */
export const logicalKey = (text: string | undefined | null): string | undefined => (text && /^[me]\d+-\d+$/.test(text) ? text.slice(1) : undefined);

const emptySeen = (): Seen => ({ messages: new Map(), identities: new Map(), raw: 0, edits: new Map(), removals: new Set(), live: 0, viaSync: 0, tooFarBehind: 0, cursor: null });

/** Connects a user through `url`; resolves on the first `connected`, after its first sync gave a cursor. */
export function connectUser(url: string, id: number, previous?: User): Promise<User> {
  const socket = io(url, { query: { user_id: String(id) }, transports: ["websocket"], reconnectionDelay: 200, reconnectionDelayMax: 1000, forceNew: true });
  const seen = previous?.seen ?? emptySeen();
  let draining: Promise<void> | undefined;
  let again = false;

  const drainOnce = async () => {
    // Bounded: a feed that never ends would be a bug of its own; the next sync resumes.
    for (let page = 0; page < 100; page++) {
      const reply = (await socket.timeout(5000).emitWithAck("sync", { since: seen.cursor, limit: 500 })) as SyncedReply | { status: "error" };
      if (reply.status !== "ok") return;
      if (reply.too_far_behind) seen.tooFarBehind++;
      for (const change of reply.changes) {
        if (change.kind === "edit" && change.message) {
          learnEdit(change.mensaje_id, change.message.message);
          seen.viaSync++;
        } else if (change.kind === "delete") {
          seen.removals.add(change.mensaje_id);
          seen.viaSync++;
        }
      }
      seen.cursor = reply.cursor;
      if (!reply.has_more) return;
    }
  };
  const sync = async () => {
    if (draining) {
      again = true;
      return draining;
    }
    draining = (async () => {
      do {
        again = false;
        await drainOnce().catch(() => {});
      } while (again);
    })();
    try {
      await draining;
    } finally {
      draining = undefined;
    }
  };
  const learnEdit = (mensajeId: string, text: string) => {
    const texts = seen.edits.get(mensajeId) ?? new Set<string>();
    seen.edits.set(mensajeId, texts.add(text));
  };
  const user: User = { id, socket, seen, sync };
  // A reconnecting user keeps what it saw from the first event on: catch-up messages may
  // arrive in the same network read as `connected`.
  socket.on("receive_message", (m: ReceivedMessage) => {
    seen.raw++;
    const key = logicalKey(m.message);
    if (key) {
      const ids = seen.identities.get(key) ?? new Set<string>();
      seen.identities.set(key, ids.add(m.mensaje_id ?? "unsaved"));
    }
    if (m.mensaje_id === null) return;
    seen.messages.set(m.mensaje_id, key ?? "");
    socket.emit("mark_delivered", { mensaje_id: m.mensaje_id });
  });
  socket.on("message_updated", (e: MessageUpdatedEvent) => {
    learnEdit(e.mensaje_id, e.message);
    seen.live++;
  });
  socket.on("message_removed", (e: MessageRemovedEvent) => {
    seen.removals.add(e.mensaje_id);
    seen.live++;
  });

  return new Promise<User>((resolve, reject) => {
    // A first attempt may meet a dying edge; the client retries by itself, within a bound.
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`user ${id} could not connect within 20 s`));
    }, 20_000);
    let first = true;
    socket.on("connected", (_c: ConnectedEvent) => {
      // Every (re)connect resumes the feed where the user left it; the first one only takes a cursor.
      const synced = sync();
      if (!first) return;
      first = false;
      void synced.then(() => {
        clearTimeout(timer);
        if (seen.cursor === null) {
          socket.close();
          reject(new Error(`user ${id} got no change-feed cursor`));
        } else resolve(user);
      });
    });
  });
}
