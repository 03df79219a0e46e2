import type {
  FeedChange,
  MessageDeliveredEvent,
  MessageReadEvent,
  MessageRemovedEvent,
  MessageUpdatedEvent,
  ReceivedMessage,
} from "@redup/edge/events";
import { BoundedSet } from "./bounded-set.js";
import { compareIds } from "./ids.js";
import { SeenIds } from "./seen.js";
import type { ChatMessage } from "./types.js";

/** What the receiver hands to the app, in order. */
export interface ReceiverOutput {
  message(message: ChatMessage): void;
  updated(event: MessageUpdatedEvent): void;
  removed(event: MessageRemovedEvent): void;
  delivered(event: MessageDeliveredEvent): void;
  read(event: MessageReadEvent): void;
  /** A message from someone else was shown (or replayed): confirm it. */
  confirm(mensajeId: string): void;
}

type Held =
  | { kind: "message"; message: ReceivedMessage; live: boolean }
  | { kind: "other"; deliver: () => void };

/**
 * Turns what arrives — live events, the catch-up replay, change-feed pages, across any number
 * of reconnects — into one `message` per mensaje_id, in each room's order, with edits,
 * deletes and receipts after the message they are about.
 *
 * Live events and the catch-up come over one socket already in room order. The feed may
 * bring older messages of a room (ones another device of the user confirmed, so the catch-up
 * skips them), so while the feed is read — on a reconnect, and again a moment later —
 * everything is held, and released sorted by mensaje_id — the room order — once it is read.
 *
 * What holding cannot fix is a message older than one already handed over: one the first
 * read could not see yet (its transaction was still open) that the second read brings. It is
 * not dropped — for the app a late message beats a lost one — but marked `late: true`, so the
 * app places it by mensaje_id instead of appending it.
 */
export class Receiver {
  private readonly seen = new SeenIds();
  private readonly seenChanges = new BoundedSet(5000);
  private held: Held[] | undefined;

  constructor(
    private readonly output: ReceiverOutput,
    private readonly me: () => string | undefined,
  ) {}

  /** From now until `release()`, hold everything (the feed is being read). */
  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    const messages = held.filter((h): h is Extract<Held, { kind: "message" }> => h.kind === "message");
    // Unsaved (fallback) messages have no id and no room order: they keep their arrival order, last.
    const byId = (a: ReceivedMessage, b: ReceivedMessage) =>
      a.mensaje_id === null ? (b.mensaje_id === null ? 0 : 1) : b.mensaje_id === null ? -1 : compareIds(a.mensaje_id, b.mensaje_id);
    messages.sort((a, b) => byId(a.message, b.message));
    for (const h of messages) this.deliverMessage(h.message, h.live);
    for (const h of held) if (h.kind === "other") h.deliver();
  }

  /** A message this client sent was stored: never hand it back as received. */
  sentByMe(salaChatId: string | null, mensajeId: string | null): void {
    if (salaChatId !== null && mensajeId !== null) this.seen.add(salaChatId, mensajeId);
  }

  /** `receive_message`: live, or replayed on connect. */
  live(message: ReceivedMessage): void {
    if (this.held) this.held.push({ kind: "message", message, live: true });
    else this.deliverMessage(message, true);
  }

  updated(event: MessageUpdatedEvent): void {
    this.later(() => {
      if (this.seenChanges.add(`edit:${event.mensaje_id}:${event.editado_en}`)) this.output.updated(event);
    });
  }

  removed(event: MessageRemovedEvent): void {
    this.later(() => {
      if (this.seenChanges.add(`delete:${event.mensaje_id}`)) this.output.removed(event);
    });
  }

  delivered(event: MessageDeliveredEvent): void {
    this.later(() => {
      if (this.seenChanges.add(`delivered:${event.mensaje_id}:${event.user_id}`)) this.output.delivered(event);
    });
  }

  read(event: MessageReadEvent): void {
    this.later(() => {
      if (this.seenChanges.add(`read:${event.mensaje_id}:${event.user_id}`)) this.output.read(event);
    });
  }

  /** One page of the change feed, as the same events live delivery would have produced. */
  feed(changes: FeedChange[]): void {
    for (const change of changes) {
      const m = change.message;
      switch (change.kind) {
        case "message":
          // A message deleted since is not shown; its delete change follows.
          if (m && m.eliminado_en === null) {
            const { editado_en: _e, eliminado_en: _d, ...message } = m;
            if (this.held) this.held.push({ kind: "message", message, live: false });
            else this.deliverMessage(message, false);
          }
          break;
        case "edit":
          if (m) this.updated({ mensaje_id: change.mensaje_id, sala_chat_id: change.sala_chat_id, from: m.from, type: m.type, to: m.to, message: m.message, editado_en: m.editado_en ?? change.at });
          break;
        case "delete":
          if (m) this.removed({ mensaje_id: change.mensaje_id, sala_chat_id: change.sala_chat_id, from: m.from, type: m.type, to: m.to, eliminado_en: m.eliminado_en ?? change.at });
          break;
        case "delivered":
          if (change.user_id) this.delivered({ mensaje_id: change.mensaje_id, user_id: change.user_id, entregado_en: change.at });
          break;
        case "read":
          if (change.user_id) this.read({ mensaje_id: change.mensaje_id, user_id: change.user_id, leido_en: change.at });
          break;
      }
    }
  }

  private later(deliver: () => void): void {
    if (this.held) this.held.push({ kind: "other", deliver });
    else deliver();
  }

  private deliverMessage(message: ReceivedMessage, live: boolean): void {
    const { mensaje_id: id, sala_chat_id: room } = message;
    const fromOther = message.from !== this.me();
    if (id === null || room === null) {
      // Delivered by the fallback, unsaved: never replayed, so nothing to dedupe by room order.
      if (this.seenChanges.add(`unsaved:${message.mensaje_uuid}`)) this.output.message(message);
      return;
    }
    if (this.seen.has(room, id)) {
      // Replayed because its confirmation was lost (a cut connection): confirm it again.
      if (live && fromOther) this.output.confirm(id);
      return;
    }
    const newest = this.seen.newestShown(room);
    this.seen.add(room, id, true);
    if (newest !== undefined && compareIds(id, newest) < 0) this.output.message({ ...message, late: true });
    else this.output.message(message);
    if (fromOther) this.output.confirm(id);
  }
}
