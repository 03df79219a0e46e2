/**
 * The ledger of a fault run: every outcome of every request, and what each recipient ended
 * up with, set against what was acknowledged. Counting is separate from running so the rules
 * are in one place: what "delivered", "lost" and "duplicate" mean.
 */
import type { FaultRecord } from "./faults.js";
import { MAX_ATTEMPTS, type LoadRecord, type Outcomes } from "./load.js";
import type { User } from "./user.js";

/** What the database holds of the acknowledged work (see database.ts). */
export interface DatabaseCheck {
  /** ACKed saved, no row in `mensajes`. */
  missingFromDb: number;
  /** Logical messages stored as more than one row. */
  duplicatesInDb: number;
  /** Acknowledged edits whose row does not hold the edited text. */
  editsMissingInDb: number;
  /** Acknowledged deletes whose row has no `eliminado_en`. */
  deletesMissingInDb: number;
  /** For the first lost deliveries: what the database says about them. */
  lostDetails: Record<string, unknown>[];
}

export interface Ledger extends DatabaseCheck {
  sends: Outcomes;
  unkeyed: Outcomes;
  edits: Outcomes;
  deletes: Outcomes;
  /** ACKed saved messages × their recipients. */
  deliveriesOwed: number;
  delivered: number;
  /** An owed delivery that never arrived (a deleted message counts as arrived once its deletion did). */
  lost: number;
  /** receive_message events, before the client's dedupe. */
  received: number;
  /** Events a recipient had already had under the same identity (its dedupe by mensaje_id removes them). */
  duplicatesBeforeDedupe: number;
  /** A logical message a recipient got under two identities (two mensaje_ids, or unsaved and saved): dedupe cannot remove it. */
  duplicatesAfterDedupe: number;
  /** Acknowledged edits and deletes × the message's recipients. */
  editsOwed: number;
  editsLost: number;
  deletesOwed: number;
  deletesLost: number;
  /** How recipients learned of edits and deletes. */
  changesLive: number;
  changesViaSync: number;
  syncTooFarBehind: number;
  /** The send window (epoch ms) and the faults in it. */
  window: { firstSendAt: number; lastSendAt: number };
  faults: FaultRecord[];
  /** The edge that lived through every fault: descriptors and memory before the faults and after. */
  survivingEdge: { before?: { fds: number; rssBytes: number }; after?: { fds: number; rssBytes: number } };
  /** Every send that did not end ACKed saved: its key, when it began and ended, and how. */
  unsaved: LoadRecord["unsaved"];
  /**
   * Of those, the ones answered neither during a fault nor within UNSAVED_GRACE_MS after it:
   * keyed (must be 0: they retry past anything but a fault) and not (one attempt: a call slower
   * than the edge's RPC deadline on a loaded machine is answered SERVICE_UNAVAILABLE too).
   */
  unsavedOutsideFaults: { keyed: number; unkeyed: number };
  /** Each logical message a recipient got under two identities, to explain a failure. */
  duplicateDetails: { recipient: number; key: string; identities: string[] }[];
  /** Lost deliveries, edits and deletes, as (mensaje_id, recipient) pairs, for the database's account. */
  lostPairs: { what: "message" | "edit" | "delete"; mensajeId: string; recipient: number }[];
}

/**
 * How long after a fault ends a send may still fail because of it: a restarted service is
 * listening before its callers' connections to it are back (their reconnect backoff).
 */
export const UNSAVED_GRACE_MS = 5000;

/** Unsaved sends answered outside every fault (plus its grace): saving failed for no reason the run made. */
export function unsavedOutside(unsaved: LoadRecord["unsaved"], faults: FaultRecord[]): Ledger["unsavedOutsideFaults"] {
  const outside = unsaved.filter((u) => !faults.some((f) => u.endedAt >= f.startedAt && u.endedAt <= f.endedAt + UNSAVED_GRACE_MS));
  return { keyed: outside.filter((u) => u.keyed).length, unkeyed: outside.filter((u) => !u.keyed).length };
}

/** Counts what recipients got against what was acknowledged. */
export function countDeliveries(load: LoadRecord, users: Map<number, User>): Omit<Ledger, keyof DatabaseCheck | "sends" | "unkeyed" | "edits" | "deletes" | "window" | "faults" | "survivingEdge" | "unsaved" | "unsavedOutsideFaults"> {
  const lostPairs: Ledger["lostPairs"] = [];
  let deliveriesOwed = 0;
  for (const [id, { recipients }] of load.saved) {
    for (const r of recipients) {
      deliveriesOwed++;
      const seen = users.get(r)!.seen;
      // A deleted message is not replayed by catch-up: learning of its deletion is its delivery.
      if (!seen.messages.has(id) && !(load.deleted.has(id) && seen.removals.has(id))) lostPairs.push({ what: "message", mensajeId: id, recipient: r });
    }
  }
  let editsOwed = 0;
  for (const [id, text] of load.edited) {
    for (const r of load.saved.get(id)!.recipients) {
      editsOwed++;
      if (!users.get(r)!.seen.edits.get(id)?.has(text)) lostPairs.push({ what: "edit", mensajeId: id, recipient: r });
    }
  }
  let deletesOwed = 0;
  for (const id of load.deleted) {
    for (const r of load.saved.get(id)!.recipients) {
      deletesOwed++;
      if (!users.get(r)!.seen.removals.has(id)) lostPairs.push({ what: "delete", mensajeId: id, recipient: r });
    }
  }
  let received = 0;
  let identities = 0;
  let duplicatesAfterDedupe = 0;
  let changesLive = 0;
  let changesViaSync = 0;
  let syncTooFarBehind = 0;
  const duplicateDetails: Ledger["duplicateDetails"] = [];
  for (const { id: recipient, seen } of users.values()) {
    received += seen.raw;
    for (const [key, ids] of seen.identities) {
      identities += ids.size;
      duplicatesAfterDedupe += ids.size - 1;
      if (ids.size > 1) duplicateDetails.push({ recipient, key, identities: [...ids] });
    }
    changesLive += seen.live;
    changesViaSync += seen.viaSync;
    syncTooFarBehind += seen.tooFarBehind;
  }
  const lost = lostPairs.filter((p) => p.what === "message").length;
  return {
    deliveriesOwed,
    delivered: deliveriesOwed - lost,
    lost,
    received,
    duplicatesBeforeDedupe: received - identities,
    duplicatesAfterDedupe,
    editsOwed,
    editsLost: lostPairs.filter((p) => p.what === "edit").length,
    deletesOwed,
    deletesLost: lostPairs.filter((p) => p.what === "delete").length,
    changesLive,
    changesViaSync,
    syncTooFarBehind,
    duplicateDetails,
    lostPairs,
  };
}

const codes = (record: Record<string, number>) =>
  Object.keys(record).length === 0
    ? "none"
    : Object.entries(record)
        .sort((a, b) => b[1] - a[1])
        .map(([code, n]) => `${code} ${n}`)
        .join(", ");

const ratio = (o: Outcomes) => (o.attempted === 0 ? "-" : (o.acked / o.attempted).toFixed(3));

/** The ledger as a table for people. */
export function formatLedger(l: Ledger): string {
  const mb = (bytes?: number) => (bytes === undefined ? "?" : (bytes / 2 ** 20).toFixed(0));
  const at = (t: number) => `+${((t - l.window.firstSendAt) / 1000).toFixed(1)} s`;
  const rows: [string, string | number][] = [
    ["messages sent (logical, each with its own client_msg_id)", l.sends.attempted],
    ["  ACKed saved (saved_to_db: true)", l.sends.acked],
    ["  ACKed unsaved (fallback, saved_to_db: false)", l.sends.fallback],
    ["  refused, by code", codes(l.sends.refused)],
    [`  gave up (no ACK after ${MAX_ATTEMPTS} tries, same client_msg_id)`, l.sends.gaveUp],
    ["  attempts retried, by answer", codes(l.sends.retried)],
    ["  ACK-saved ratio", ratio(l.sends)],
    ["messages sent without client_msg_id (one attempt each)", l.unkeyed.attempted],
    ["  ACKed saved", l.unkeyed.acked],
    ["  ACKed unsaved (fallback)", l.unkeyed.fallback],
    ["  refused or unanswered, by code", codes(l.unkeyed.refused)],
    ["  ACK-saved ratio", ratio(l.unkeyed)],
    ["unsaved outside faults (+5 s): keyed (must be 0) / not", `${l.unsavedOutsideFaults.keyed} / ${l.unsavedOutsideFaults.unkeyed}`],
    ["deliveries owed (ACKed saved × recipients)", l.deliveriesOwed],
    ["  delivered (live or by catch-up)", l.delivered],
    ["  lost (must be 0)", l.lost],
    ["ACKed saved but not in mensajes (must be 0)", l.missingFromDb],
    ["receive_message events", l.received],
    ["  duplicates before dedupe (same mensaje_id again)", l.duplicatesBeforeDedupe],
    ["  duplicates after dedupe, at recipients (must be 0)", l.duplicatesAfterDedupe],
    ["  duplicates in mensajes (must be 0)", l.duplicatesInDb],
    ["edits requested / acknowledged", `${l.edits.attempted} / ${l.edits.acked}`],
    ["  refused, by code / gave up", `${codes(l.edits.refused)} / ${l.edits.gaveUp}`],
    ["  attempts retried, by answer", codes(l.edits.retried)],
    ["  acknowledged, not in the database (must be 0)", l.editsMissingInDb],
    ["  owed to recipients / lost (must be 0)", `${l.editsOwed} / ${l.editsLost}`],
    ["deletes requested / acknowledged", `${l.deletes.attempted} / ${l.deletes.acked}`],
    ["  refused, by code / gave up", `${codes(l.deletes.refused)} / ${l.deletes.gaveUp}`],
    ["  attempts retried, by answer", codes(l.deletes.retried)],
    ["  acknowledged, not in the database (must be 0)", l.deletesMissingInDb],
    ["  owed to recipients / lost (must be 0)", `${l.deletesOwed} / ${l.deletesLost}`],
    ["edits and deletes learned live / through sync", `${l.changesLive} / ${l.changesViaSync}`],
    ["sync answers too_far_behind", l.syncTooFarBehind],
    ["send window", `${((l.window.lastSendAt - l.window.firstSendAt) / 1000).toFixed(1)} s`],
    ["edge-2 fds before → after", `${l.survivingEdge.before?.fds ?? "?"} → ${l.survivingEdge.after?.fds ?? "?"}`],
    ["edge-2 RSS MB before → after", `${mb(l.survivingEdge.before?.rssBytes)} → ${mb(l.survivingEdge.after?.rssBytes)}`],
  ];
  const faults = l.faults.map((f) => `fault ${at(f.startedAt)} → ${at(f.endedAt)}: ${f.name}`);
  const details = [...l.lostDetails.map((d) => `lost: ${JSON.stringify(d)}`), ...l.duplicateDetails.map((d) => `duplicate: ${JSON.stringify(d)}`)];
  const unsaved = l.unsaved.map((u) => `${u.key} ${at(u.at)}→${at(u.endedAt).slice(1)} ${u.outcome}`).join(", ");
  return [...rows.map(([k, v]) => `${k.padEnd(58)} ${v}`), ...faults, `unsaved sends: ${unsaved || "none"}`, ...details].join("\n");
}
