/**
 * The open conversation on the right: bubbles in the room's order, ticks on the user's own
 * messages (✓ stored, ✓✓ delivered, blue ✓✓ read), the peer's presence, who is typing,
 * older pages of history when scrolled to the top, and the send box.
 */
import { newClientMsgId, type ChatClient, type ChatError, type OutboxEntry, type StoredMessage, type MessageDeliveredEvent, type MessageReadEvent, type MessageRemovedEvent, type MessageUpdatedEvent, type PresenceEvent, type ReceivedMessage, type TypingChange } from "@redup/client";
import { $, el, newer, when } from "./dom.js";
import type { Inbox, InboxRoom } from "./inbox.js";
import { roomKey, roomName, roomOf, type RoomRef } from "./rooms.js";

const PAGE = 30;
// The protocol asks for a typing refresh about every 3 s while the user keeps typing.
const TYPING_REFRESH_MS = 3000;
const TYPING_IDLE_MS = 4000;

type Receipt = "delivered" | "read";

export function createConversation(client: ChatClient, me: string, inbox: Inbox) {
  const messages = $("messages");
  const older = el("p", "", "");
  older.id = "older";
  let room: InboxRoom | null = null;
  let nextBefore: string | null = null;
  let loadingOlder = false;
  const bubbles = new Map<string, HTMLElement>();
  /** The user's messages on screen that wait for their ACK, by client_msg_id. */
  const outgoing = new Map<string, HTMLElement>();
  // Receipts arrive for any conversation, also for one not on screen; kept until shown.
  const receipts = new Map<string, Receipt>();
  const typers = new Map<string, ReturnType<typeof setTimeout>>();
  let typingSentAt = 0;
  let typingIdle: ReturnType<typeof setTimeout> | undefined;

  const isHere = (ref: RoomRef) => room !== null && roomKey(ref) === roomKey(room);

  function ticks(bubble: HTMLElement, state: "pending" | "sent" | Receipt | "failed") {
    const mark = bubble.querySelector(".ticks");
    if (!mark) return;
    mark.className = `ticks ${state}`;
    mark.textContent = { pending: "◷", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" }[state];
    bubble.dataset["state"] = state;
  }

  function bubble(m: Pick<ReceivedMessage, "from" | "message" | "enviado_en" | "timestamp">): HTMLElement {
    const mine = m.from === me;
    const node = el("div", mine ? "bubble mine" : "bubble");
    if (!mine && room?.type === "grupal") node.append(el("span", "from", `Usuario ${m.from}`));
    node.append(el("span", "text", m.message));
    const meta = el("span", "meta", when(m.enviado_en || m.timestamp));
    if (mine) meta.append(el("span", "ticks"));
    node.append(meta);
    return node;
  }

  /**
   * Puts a stored message where the room's order (mensaje_id) says, whenever it arrives: a
   * catch-up after a reconnect can bring messages older than one the user sent meanwhile.
   * Messages still in the outbox stay below every stored one.
   */
  function insertInOrder(node: HTMLElement, id: string | null) {
    if (!id) return messages.append(node);
    let after: Element = older;
    for (let n = messages.lastElementChild; n && n !== older; n = n.previousElementSibling) {
      const other = (n as HTMLElement).dataset["id"];
      if (other && !newer(other, id)) {
        after = n;
        break;
      }
    }
    after.after(node);
  }

  function place(m: ReceivedMessage): HTMLElement | undefined {
    if (m.mensaje_id && bubbles.has(m.mensaje_id)) return undefined;
    const node = bubble(m);
    if (m.mensaje_id) {
      node.dataset["id"] = m.mensaje_id;
      bubbles.set(m.mensaje_id, node);
    }
    if (m.from === me) ticks(node, (m.mensaje_id && receipts.get(m.mensaje_id)) || "sent");
    insertInOrder(node, m.mensaje_id);
    return node;
  }

  const atBottom = () => messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
  const toBottom = () => (messages.scrollTop = messages.scrollHeight);

  /** Everything the user received here up to the newest shown message is read now. */
  function markRead(newest: ReceivedMessage | undefined) {
    if (!newest?.mensaje_id || !newest.sala_chat_id || newest.from === me || !room) return;
    if (!newer(newest.mensaje_id, room.readUpTo) && room.unread === 0) return;
    client.markReadUpTo(newest.sala_chat_id, newest.mensaje_id).catch(() => undefined);
  }

  async function loadOlder() {
    if (!room || !nextBefore || loadingOlder) return;
    loadingOlder = true;
    const current = room;
    older.textContent = "cargando mensajes anteriores…";
    try {
      const page = await client.history({ type: current.type, to: current.to, before_id: nextBefore, limit: PAGE });
      if (room !== current) return;
      // Keep the message the user was looking at in place while older ones go above it.
      const before = messages.scrollHeight;
      for (const m of page.messages) place(m);
      messages.scrollTop += messages.scrollHeight - before;
      nextBefore = page.next_before_id;
    } finally {
      loadingOlder = false;
      older.textContent = nextBefore ? "" : "principio de la conversación";
    }
  }

  function showTyping() {
    const names = [...typers.keys()].map((id) => `Usuario ${id}`);
    $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "están" : "está"} escribiendo…` : "";
  }

  function showPresence(p: PresenceEvent | null) {
    const label = $("presence");
    label.className = p?.online ? "online" : "";
    label.textContent = !p ? "" : p.online ? "en línea" : p.last_seen ? `últ. vez ${when(p.last_seen)}` : "desconectado";
  }

  messages.addEventListener("scroll", () => {
    if (messages.scrollTop < 60) void loadOlder();
  });

  $("text").addEventListener("input", () => {
    if (!room) return;
    const { type, to } = room;
    if (Date.now() - typingSentAt > TYPING_REFRESH_MS) {
      typingSentAt = Date.now();
      client.typing(type, to);
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(() => stopTyping(), TYPING_IDLE_MS);
  });

  function stopTyping() {
    clearTimeout(typingIdle);
    if (!room || !typingSentAt) return;
    typingSentAt = 0;
    client.stopTyping(room.type, room.to);
  }

  /** A message of the user's that waits in the outbox: shown at once, settled by `sent`/`failed`. */
  function showOutgoing(entry: Pick<OutboxEntry, "client_msg_id" | "payload">) {
    const node = bubble({ from: me, message: entry.payload.message ?? "", enviado_en: entry.payload.timestamp ?? new Date().toISOString(), timestamp: "" });
    node.dataset["cmid"] = entry.client_msg_id;
    ticks(node, "pending");
    outgoing.set(entry.client_msg_id, node);
    messages.append(node);
  }

  $<HTMLFormElement>("compose").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $<HTMLInputElement>("text");
    const text = input.value.trim();
    if (!room || !text) return;
    input.value = "";
    stopTyping();
    // Our own id, so the bubble is on screen before the ACK and found again by `sent`.
    const client_msg_id = newClientMsgId();
    const timestamp = new Date().toISOString();
    showOutgoing({ client_msg_id, payload: { to: room.to, type: room.type, message: text, timestamp, client_msg_id } });
    toBottom();
    // Settled through the `sent` and `failed` events, which also cover entries restored from
    // the stored outbox after a reload, with no send() waiting for them.
    client.send({ to: room.to, type: room.type, message: text, timestamp, client_msg_id }).catch(() => undefined);
  });

  return {
    /** The outbox got the ACK of one of the user's messages (sent now, or before a reload). */
    sent(entry: OutboxEntry, ack: StoredMessage) {
      const stored: ReceivedMessage = { from: me, to: ack.to, message: entry.payload.message ?? "", type: ack.type, message_type: ack.message_type, timestamp: ack.timestamp, mensaje_id: ack.mensaje_id, mensaje_uuid: ack.mensaje_uuid, enviado_en: ack.enviado_en, sala_chat_id: ack.sala_chat_id, url_archivo: null };
      inbox.message(stored, true);
      const node = outgoing.get(entry.client_msg_id);
      outgoing.delete(entry.client_msg_id);
      node?.remove();
      if (!isHere(roomOf(stored, me))) return;
      const stick = atBottom();
      // A reconnect's history may have shown it already; then place() leaves it there.
      const shown = place(stored) ?? (ack.mensaje_id ? bubbles.get(ack.mensaje_id) : undefined);
      if (shown && stick) toBottom();
    },
    failed(entry: OutboxEntry, error: ChatError) {
      const node = outgoing.get(entry.client_msg_id);
      outgoing.delete(entry.client_msg_id);
      if (!node) return;
      ticks(node, "failed");
      node.title = `${error.code}: ${error.message}`;
    },
    async open(target: InboxRoom) {
      if (room) {
        stopTyping();
        if (room.type === "directo") client.unwatchPresence([room.to]).catch(() => undefined);
      }
      room = target;
      nextBefore = null;
      bubbles.clear();
      outgoing.clear();
      for (const timer of typers.values()) clearTimeout(timer);
      typers.clear();
      showTyping();
      showPresence(null);
      inbox.setOpen(target);
      $("empty").style.display = "none";
      $("chat").classList.add("on");
      $("title").textContent = roomName(target);
      older.textContent = "";
      messages.replaceChildren(older);
      if (target.type === "directo") {
        client.watchPresence([target.to]).then((presences) => room === target && showPresence(presences[0] ?? null), () => undefined);
      }
      const page = await client.history({ type: target.type, to: target.to, limit: PAGE });
      if (room !== target) return;
      for (const m of page.messages) place(m);
      // What the user wrote here and is still in the outbox (also from before a reload).
      for (const entry of client.pending()) if (isHere({ type: entry.payload.type, to: String(entry.payload.to) }) && !outgoing.has(entry.client_msg_id)) showOutgoing(entry);
      nextBefore = page.next_before_id;
      if (!nextBefore) older.textContent = "principio de la conversación";
      toBottom();
      markRead(page.messages.find((m) => m.from !== me));
      $<HTMLInputElement>("text").focus();
    },
    /** A new message for the user; whether it is being looked at right now. */
    message(m: ReceivedMessage): boolean {
      if (!isHere(roomOf(m, me))) return false;
      const stick = atBottom();
      const node = place(m);
      const timer = typers.get(m.from);
      if (timer) {
        clearTimeout(timer);
        typers.delete(m.from);
        showTyping();
      }
      if (node && stick) toBottom();
      if (!document.hidden) markRead(m);
      return !document.hidden;
    },
    receipt(kind: Receipt, event: MessageDeliveredEvent | MessageReadEvent) {
      // Read outranks delivered, whichever arrives last.
      if (receipts.get(event.mensaje_id) !== "read") receipts.set(event.mensaje_id, kind);
      const node = bubbles.get(event.mensaje_id);
      if (node) ticks(node, receipts.get(event.mensaje_id)!);
    },
    typing(event: TypingChange) {
      if (event.from === me || !isHere(event.type === "grupal" ? event : { type: "directo", to: event.from })) return;
      clearTimeout(typers.get(event.from));
      typers.delete(event.from);
      // The server ends a typing by itself after 6 s; this only guards against a lost stop.
      if (event.active) typers.set(event.from, setTimeout(() => (typers.delete(event.from), showTyping()), 8000));
      showTyping();
    },
    /** Back online: messages marked delivered meanwhile on another device are not replayed; history has them. */
    async resume() {
      const target = room;
      if (!target) return;
      const page = await client.history({ type: target.type, to: target.to, limit: PAGE });
      if (room !== target) return;
      const stick = atBottom();
      for (const m of page.messages) place(m);
      if (stick) toBottom();
      markRead(page.messages.find((m) => m.from !== me));
    },
    /** An edit or a deletion made anywhere: the bubble shows the message as it is now. */
    changed(event: MessageUpdatedEvent | MessageRemovedEvent) {
      const text = bubbles.get(event.mensaje_id)?.querySelector(".text");
      if (!text) return;
      text.textContent = "eliminado_en" in event ? "mensaje eliminado" : `${event.message} (editado)`;
      text.classList.toggle("deleted", "eliminado_en" in event);
    },
    /** Offline: what the page knew about the peer is no longer current. */
    suspend: () => showPresence(null),
    presence(p: PresenceEvent) {
      if (room?.type === "directo" && room.to === p.user_id) showPresence(p);
    },
    current: () => room,
  };
}
