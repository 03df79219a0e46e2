/**
 * The load of the fault harness: senders that each send, edit and delete their own messages
 * at a steady rate, and keep an account of every outcome. A send is one logical message,
 * retried with the same client_msg_id while the answer is a timeout or a retryable code, at
 * most MAX_ATTEMPTS times. With a key, the edge never answers an outage with the unsaved
 * fallback (it could not tell a retry of a stored send), so a send ends saved, refused or
 * given up. After a message is ACKed saved, one in five is edited and another
 * one in five deleted right away — the hardest case for the order "message, then its change".
 */
import type { ErrorReply, MessageDeletedReply, MessageEditedReply, SendAck } from "@redup/edge/events";
import type { User } from "./user.js";

/**
 * Attempts per request, with pauses doubling from 0.7 s up to 5 s between them: a request
 * keeps trying for about 40 s, longer than any outage the harness makes (a restart on a
 * loaded 2-core machine can take 25 s).
 */
export const MAX_ATTEMPTS = 10;
const pauseBefore = (attempt: number) => Math.min(700 * 2 ** attempt, 5000);
/** Answers after which the same request may be sent again (idempotent for sends, edits and deletes). */
const RETRYABLE = new Set(["timeout", "SERVICE_UNAVAILABLE", "OVERLOADED", "RATE_LIMITED", "INTERNAL_ERROR"]);

/** How the requests of one kind ended. */
export interface Outcomes {
  attempted: number;
  /** Acknowledged as done (for sends: ACKed saved_to_db: true). */
  acked: number;
  /** Sends only: ACKed with saved_to_db: false (the guide's fallback). */
  fallback: number;
  /** Ended by a code that is not worth retrying, by code. */
  refused: Record<string, number>;
  /** Retried MAX_ATTEMPTS times without an answer that ends it. */
  gaveUp: number;
  /** Attempts answered by a timeout or a retryable code (and tried again), by code. */
  retried: Record<string, number>;
}

export interface LoadRecord {
  /** Sends with a client_msg_id, retried. */
  sends: Outcomes;
  /** Sends without one, as the guide's clients send: one attempt each (a retry could store twice). */
  unkeyed: Outcomes;
  edits: Outcomes;
  deletes: Outcomes;
  /** mensaje_id → logical key and recipients, for each message ACKed saved. */
  saved: Map<string, { key: string; recipients: number[] }>;
  /** mensaje_id → the text, for each acknowledged edit. */
  edited: Map<string, string>;
  /** mensaje_ids of acknowledged deletes. */
  deleted: Set<string>;
  /** When the first send and the last send began (epoch ms): the window faults must sit in. */
  firstSendAt: number;
  lastSendAt: number;
  /** Every send that did not end ACKed saved: its key, whether it had a client_msg_id, when it began and ended, and how. */
  unsaved: { key: string; keyed: boolean; at: number; endedAt: number; outcome: string }[];
}

export interface Sender {
  /** With a client_msg_id (retried), or without (one attempt; the fallback applies). */
  keyed: boolean;
  from: number;
  to: number;
  type: "directo" | "grupal";
  recipients: number[];
}

const outcomes = (): Outcomes => ({ attempted: 0, acked: 0, fallback: 0, refused: {}, gaveUp: 0, retried: {} });
const bump = (record: Record<string, number>, code: string) => (record[code] = (record[code] ?? 0) + 1);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Answer<T> = { ok: T } | { refused: string } | { gaveUp: true };

/** One request, retried with the same payload (up to `attempts` times) while retrying is safe and useful. */
async function request<T extends { status: string }>(user: User, event: string, payload: object, counts: Outcomes, attempts = MAX_ATTEMPTS): Promise<Answer<T>> {
  counts.attempted++;
  for (let attempt = 0; attempt < attempts; attempt++) {
    let code = "timeout";
    let wait = pauseBefore(attempt);
    try {
      const reply = (await user.socket.timeout(5000).emitWithAck(event, payload)) as T | ErrorReply;
      if (reply.status !== "error") return { ok: reply as T };
      const error = reply as ErrorReply;
      code = error.code;
      wait = Math.max(wait, error.retry_after_ms ?? 0);
    } catch {
      // No answer in time: the edge, a service or a link was down. The outcome is unknown.
    }
    // With one attempt (no key), a retryable answer is the last word too.
    if (!RETRYABLE.has(code) || attempts === 1) {
      bump(counts.refused, code);
      return { refused: code };
    }
    if (attempt === attempts - 1) break;
    bump(counts.retried, code);
    await pause(wait);
  }
  counts.gaveUp++;
  return { gaveUp: true };
}

/**
 * Runs every sender until `done()` says so (bounded: at most `maxSends` per sender); resolves
 * with the account of it all.
 */
export async function runLoad(users: Map<number, User>, senders: Sender[], ratePerUser: number, done: () => boolean, maxSends: number): Promise<LoadRecord> {
  const record: LoadRecord = {
    sends: outcomes(),
    unkeyed: outcomes(),
    edits: outcomes(),
    deletes: outcomes(),
    saved: new Map(),
    edited: new Map(),
    deleted: new Set(),
    firstSendAt: Date.now(),
    lastSendAt: 0,
    unsaved: [],
  };

  const run = async ({ keyed, from, to, type, recipients }: Sender) => {
    const counts = keyed ? record.sends : record.unkeyed;
    const user = users.get(from)!;
    for (let seq = 0; !done() && seq < maxSends; seq++) {
      const at = Date.now();
      record.lastSendAt = Math.max(record.lastSendAt, at);
      const key = `${from}-${seq}`;
      const sent = keyed
        ? await request<SendAck>(user, "send_message", { to, type, message: `m${key}`, client_msg_id: `c${key}` }, counts)
        : await request<SendAck>(user, "send_message", { to, type, message: `m${key}` }, counts, 1);
      if ("ok" in sent) {
        if (sent.ok.saved_to_db && sent.ok.mensaje_id) {
          counts.acked++;
          const id = sent.ok.mensaje_id;
          record.saved.set(id, { key, recipients });
          if (seq % 5 === 1) {
            const edit = await request<MessageEditedReply>(user, "edit_message", { mensaje_id: id, message: `e${key}` }, record.edits);
            if ("ok" in edit) {
              record.edits.acked++;
              record.edited.set(id, edit.ok.message);
            }
          } else if (seq % 5 === 3) {
            const deletion = await request<MessageDeletedReply>(user, "delete_message", { mensaje_id: id }, record.deletes);
            if ("ok" in deletion) {
              record.deletes.acked++;
              record.deleted.add(id);
            }
          }
        } else {
          counts.fallback++;
          record.unsaved.push({ key, keyed, at, endedAt: Date.now(), outcome: "fallback" });
        }
      } else {
        record.unsaved.push({ key, keyed, at, endedAt: Date.now(), outcome: "refused" in sent ? sent.refused : "gave up" });
      }
      await pause(1000 / ratePerUser);
    }
  };
  await Promise.all(senders.map(run));
  return record;
}
