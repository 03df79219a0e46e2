/**
 * The bubbles of the open conversation: stored messages in the room's order (mensaje_id),
 * the user's own messages with their ticks (◷ in the outbox, ✓ stored, ✓✓ delivered, blue
 * ✓✓ read), and edits and deletions applied. Knows the DOM, not the client.
 */
import type { ChatError, MessageDeliveredEvent, MessageReadEvent, MessageRemovedEvent, MessageUpdatedEvent, OutboxEntry, ReceivedMessage } from "@redup/client";
import { el, newer, when } from "./dom.js";

type Receipt = "delivered" | "read";
type Ticks = "pending" | "sent" | Receipt | "failed";
const MARKS: Record<Ticks, string> = { pending: "◷", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" };

export function createBubbles(messages: HTMLElement, me: string) {
  // The top line: "loading older…" or "start of the conversation"; bubbles go below it.
  const edge = el("p", "");
  edge.id = "older";
  let group = false;
  const stored = new Map<string, HTMLElement>();
  /** The user's messages on screen that wait for their ACK, by client_msg_id. */
  const outgoing = new Map<string, HTMLElement>();
  // Receipts arrive for any conversation, also for one not on screen; kept until shown.
  const receipts = new Map<string, Receipt>();

  function ticks(node: HTMLElement, state: Ticks) {
    const mark = node.querySelector(".ticks");
    if (!mark) return;
    mark.className = `ticks ${state}`;
    mark.textContent = MARKS[state];
    node.dataset["state"] = state;
  }

  function bubble(m: Pick<ReceivedMessage, "from" | "message" | "enviado_en" | "timestamp">): HTMLElement {
    const mine = m.from === me;
    const node = el("div", mine ? "bubble mine" : "bubble");
    if (!mine && group) node.append(el("span", "from", `Usuario ${m.from}`));
    node.append(el("span", "text", m.message));
    const meta = el("span", "meta", when(m.enviado_en || m.timestamp));
    if (mine) meta.append(el("span", "ticks"));
    node.append(meta);
    return node;
  }

  /**
   * Where the room's order says, whenever the message arrives: a catch-up after a reconnect
   * can bring messages older than one the user sent meanwhile. Messages still in the outbox
   * stay below every stored one.
   */
  function insertInOrder(node: HTMLElement, id: string | null) {
    if (!id) return messages.append(node);
    let after: Element = edge;
    for (let n = messages.lastElementChild; n && n !== edge; n = n.previousElementSibling) {
      const other = (n as HTMLElement).dataset["id"];
      if (other && !newer(other, id)) {
        after = n;
        break;
      }
    }
    after.after(node);
  }

  return {
    reset(isGroup: boolean) {
      group = isGroup;
      stored.clear();
      outgoing.clear();
      edge.textContent = "";
      messages.replaceChildren(edge);
    },
    setEdge(text: string) {
      edge.textContent = text;
    },
    /** Shows a stored message once; undefined when it is on screen already. */
    place(m: ReceivedMessage): HTMLElement | undefined {
      if (m.mensaje_id && stored.has(m.mensaje_id)) return undefined;
      const node = bubble(m);
      if (m.mensaje_id) {
        node.dataset["id"] = m.mensaje_id;
        stored.set(m.mensaje_id, node);
      }
      if (m.from === me) ticks(node, (m.mensaje_id && receipts.get(m.mensaje_id)) || "sent");
      insertInOrder(node, m.mensaje_id);
      return node;
    },
    /** One of the user's messages waiting in the outbox, at the bottom. */
    showOutgoing(entry: Pick<OutboxEntry, "client_msg_id" | "payload">) {
      if (outgoing.has(entry.client_msg_id)) return;
      const node = bubble({ from: me, message: entry.payload.message ?? "", enviado_en: entry.payload.timestamp ?? new Date().toISOString(), timestamp: "" });
      node.dataset["cmid"] = entry.client_msg_id;
      ticks(node, "pending");
      outgoing.set(entry.client_msg_id, node);
      messages.append(node);
    },
    /** Its ACK came: the waiting bubble goes; the caller places the stored message. */
    settle(clientMsgId: string) {
      outgoing.get(clientMsgId)?.remove();
      outgoing.delete(clientMsgId);
    },
    fail(entry: OutboxEntry, error: ChatError) {
      const node = outgoing.get(entry.client_msg_id);
      outgoing.delete(entry.client_msg_id);
      if (!node) return;
      ticks(node, "failed");
      node.title = `${error.code}: ${error.message}`;
    },
    receipt(kind: Receipt, event: MessageDeliveredEvent | MessageReadEvent) {
      // Read outranks delivered, whichever arrives last.
      if (receipts.get(event.mensaje_id) !== "read") receipts.set(event.mensaje_id, kind);
      const node = stored.get(event.mensaje_id);
      if (node) ticks(node, receipts.get(event.mensaje_id)!);
    },
    changed(event: MessageUpdatedEvent | MessageRemovedEvent) {
      const text = stored.get(event.mensaje_id)?.querySelector(".text");
      if (!text) return;
      const deleted = "eliminado_en" in event;
      text.textContent = deleted ? "mensaje eliminado" : `${event.message} (editado)`;
      text.classList.toggle("deleted", deleted);
    },
    atBottom: () => messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80,
    toBottom: () => void (messages.scrollTop = messages.scrollHeight),
  };
}

export type Bubbles = ReturnType<typeof createBubbles>;
