/**
 * The open conversation on the right: which room it is, its newest page of history and the
 * older ones when scrolled to the top, marking it read, the peer's presence, typing, and the
 * send box. The bubbles themselves are bubbles.ts.
 */
import { newClientMsgId, type ChatClient, type ChatError, type MessageDeliveredEvent, type MessageReadEvent, type MessageRemovedEvent, type MessageUpdatedEvent, type OutboxEntry, type PresenceEvent, type ReceivedMessage, type StoredMessage, type TypingChange } from "@redup/client";
import { createBubbles } from "./bubbles.js";
import { $, newer, when } from "./dom.js";
import type { Inbox, InboxRoom } from "./inbox.js";
import { roomKey, roomName, roomOf, type RoomRef } from "./rooms.js";
import { createTyping } from "./typing.js";

const PAGE = 30;
const START = "principio de la conversación";

export function createConversation(client: ChatClient, me: string, inbox: Inbox) {
  const messages = $("messages");
  const bubbles = createBubbles(messages, me);
  const typing = createTyping(client);
  let room: InboxRoom | null = null;
  let nextBefore: string | null = null;
  let loadingOlder = false;

  const isHere = (ref: RoomRef) => room !== null && roomKey(ref) === roomKey(room);

  /** Everything the user received here up to the newest shown message is read now. */
  function markRead(newest: ReceivedMessage | undefined) {
    if (!newest?.mensaje_id || !newest.sala_chat_id || newest.from === me || !room) return;
    if (!newer(newest.mensaje_id, room.readUpTo) && room.unread === 0) return;
    client.markReadUpTo(newest.sala_chat_id, newest.mensaje_id).catch(() => undefined);
  }

  /** The newest page: on opening, and again after a reconnect (it may hold what was missed). */
  async function loadNewest(target: InboxRoom) {
    const page = await client.history({ type: target.type, to: target.to, limit: PAGE });
    if (room !== target) return;
    const stick = bubbles.atBottom();
    for (const m of page.messages) bubbles.place(m);
    if (stick) bubbles.toBottom();
    markRead(page.messages.find((m) => m.from !== me));
    return page;
  }

  async function loadOlder() {
    if (!room || !nextBefore || loadingOlder) return;
    loadingOlder = true;
    const current = room;
    bubbles.setEdge("cargando mensajes anteriores…");
    try {
      const page = await client.history({ type: current.type, to: current.to, before_id: nextBefore, limit: PAGE });
      if (room !== current) return;
      // Keep the message the user was looking at in place while older ones go above it.
      const before = messages.scrollHeight;
      for (const m of page.messages) bubbles.place(m);
      messages.scrollTop += messages.scrollHeight - before;
      nextBefore = page.next_before_id;
    } finally {
      loadingOlder = false;
      bubbles.setEdge(nextBefore ? "" : START);
    }
  }

  function showPresence(p: PresenceEvent | null) {
    const label = $("presence");
    label.className = p?.online ? "online" : "";
    label.textContent = !p ? "" : p.online ? "en línea" : p.last_seen ? `últ. vez ${when(p.last_seen)}` : "desconectado";
  }

  messages.addEventListener("scroll", () => {
    if (messages.scrollTop < 60) void loadOlder();
  });
  $("text").addEventListener("input", () => room && typing.keystroke(room.type, room.to));
  $<HTMLFormElement>("compose").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $<HTMLInputElement>("text");
    const text = input.value.trim();
    if (!room || !text) return;
    input.value = "";
    typing.stop();
    // Our own id, so the bubble is on screen before the ACK and found again by `sent`.
    const payload = { to: room.to, type: room.type, message: text, timestamp: new Date().toISOString(), client_msg_id: newClientMsgId() };
    bubbles.showOutgoing({ client_msg_id: payload.client_msg_id, payload });
    bubbles.toBottom();
    // Settled through the `sent` and `failed` events, which also cover entries restored from
    // the stored outbox after a reload, with no send() waiting for them.
    client.send(payload).catch(() => undefined);
  });

  return {
    async open(target: InboxRoom) {
      typing.stop();
      if (room?.type === "directo") client.unwatchPresence([room.to]).catch(() => undefined);
      room = target;
      nextBefore = null;
      bubbles.reset(target.type === "grupal");
      typing.clear();
      showPresence(null);
      inbox.setOpen(target);
      $("empty").style.display = "none";
      $("chat").classList.add("on");
      $("title").textContent = roomName(target);
      if (target.type === "directo") client.watchPresence([target.to]).then((presences) => room === target && showPresence(presences[0] ?? null), () => undefined);
      const page = await loadNewest(target);
      if (!page) return;
      // What the user wrote here and is still in the outbox (also from before a reload).
      for (const entry of client.pending()) if (isHere({ type: entry.payload.type, to: String(entry.payload.to) })) bubbles.showOutgoing(entry);
      nextBefore = page.next_before_id;
      bubbles.setEdge(nextBefore ? "" : START);
      bubbles.toBottom();
      $<HTMLInputElement>("text").focus();
    },
    /** Back online: messages marked delivered meanwhile on another device are not replayed; history has them. */
    async resume() {
      if (room) await loadNewest(room);
    },
    /** Offline: what the page knew about the peer is no longer current. */
    suspend: () => showPresence(null),
    /** A new message for the user; whether it is being looked at right now. */
    message(m: ReceivedMessage): boolean {
      if (!isHere(roomOf(m, me))) return false;
      const stick = bubbles.atBottom();
      const node = bubbles.place(m);
      typing.other(m.from, false);
      if (node && stick) bubbles.toBottom();
      if (!document.hidden) markRead(m);
      return !document.hidden;
    },
    /** The outbox got the ACK of one of the user's messages (sent now, or before a reload). */
    sent(entry: OutboxEntry, ack: StoredMessage) {
      const stored: ReceivedMessage = { from: me, to: ack.to, message: entry.payload.message ?? "", type: ack.type, message_type: ack.message_type, timestamp: ack.timestamp, mensaje_id: ack.mensaje_id, mensaje_uuid: ack.mensaje_uuid, enviado_en: ack.enviado_en, sala_chat_id: ack.sala_chat_id, url_archivo: null };
      inbox.message(stored, true);
      bubbles.settle(entry.client_msg_id);
      if (!isHere(roomOf(stored, me))) return;
      const stick = bubbles.atBottom();
      // A reconnect's history may have shown it already; then it stays where it is.
      bubbles.place(stored);
      if (stick) bubbles.toBottom();
    },
    failed: (entry: OutboxEntry, error: ChatError) => bubbles.fail(entry, error),
    receipt: (kind: "delivered" | "read", event: MessageDeliveredEvent | MessageReadEvent) => bubbles.receipt(kind, event),
    changed: (event: MessageUpdatedEvent | MessageRemovedEvent) => bubbles.changed(event),
    typing(event: TypingChange) {
      if (event.from !== me && isHere(event.type === "grupal" ? event : { type: "directo", to: event.from })) typing.other(event.from, event.active);
    },
    presence(p: PresenceEvent) {
      if (room?.type === "directo" && room.to === p.user_id) showPresence(p);
    },
  };
}
