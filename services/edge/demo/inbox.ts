/**
 * The inbox on the left: the user's conversations, newest activity first, each with its last
 * message and an unread badge. get_conversations gives the truth on every (re)connect;
 * between two loads new messages and read_marker events keep it current.
 */
import type { Conversation, ReadMarkerEvent, ReceivedMessage } from "@redup/client";
import { el, newer, when } from "./dom.js";
import { roomKey, roomName, roomOf, type RoomRef } from "./rooms.js";

export interface InboxRoom extends RoomRef {
  salaChatId: string | null;
  last: Pick<ReceivedMessage, "from" | "message" | "mensaje_id"> | null;
  lastActivity: string;
  unread: number;
  readUpTo: string | null;
}

export function createInbox(list: HTMLElement, me: string, onOpen: (room: InboxRoom) => void) {
  const rooms = new Map<string, InboxRoom>();
  let openKey: string | null = null;

  function render() {
    const sorted = [...rooms.values()].sort((a, b) => b.lastActivity.localeCompare(a.lastActivity));
    list.replaceChildren(
      ...sorted.map((room) => {
        const item = el("li", roomKey(room) === openKey ? "open" : "");
        item.dataset["room"] = roomKey(room);
        const preview = room.last ? `${room.last.from === me ? "Tú: " : room.type === "grupal" ? `${room.last.from}: ` : ""}${room.last.message}` : "sin mensajes";
        item.append(el("span", "name", roomName(room)), el("span", "when", when(room.lastActivity)), el("span", "preview", preview), el("span", "badge", room.unread ? String(room.unread) : ""));
        item.onclick = () => onOpen(room);
        return item;
      }),
    );
  }

  return {
    /** Replaces everything with the server's view (the first page is enough for a demo). */
    load(reply: { conversations: Conversation[] }) {
      rooms.clear();
      for (const c of reply.conversations) {
        const room: InboxRoom = { type: c.type, to: c.to, salaChatId: c.sala_chat_id, last: c.last_message, lastActivity: c.last_activity, unread: c.unread, readUpTo: c.read_up_to };
        rooms.set(roomKey(room), room);
      }
      render();
    },
    /** The room, created empty when the user starts a conversation that has no messages yet. */
    ensure(ref: RoomRef): InboxRoom {
      const key = roomKey(ref);
      let room = rooms.get(key);
      if (!room) {
        room = { ...ref, salaChatId: null, last: null, lastActivity: new Date().toISOString(), unread: 0, readUpTo: null };
        rooms.set(key, room);
        render();
      }
      return room;
    },
    message(m: ReceivedMessage, seenNow: boolean) {
      const room = this.ensure(roomOf(m, me));
      room.salaChatId ??= m.sala_chat_id;
      // Catch-up after a reconnect can replay messages the last load already counted.
      const fresh = newer(m.mensaje_id, room.last?.mensaje_id) && newer(m.mensaje_id, room.readUpTo);
      if (fresh && m.from !== me && !seenNow) room.unread++;
      if (fresh || !m.mensaje_id) {
        room.last = m;
        room.lastActivity = m.enviado_en || m.timestamp;
      }
      render();
    },
    readMarker(marker: ReadMarkerEvent) {
      for (const room of rooms.values()) {
        if (room.salaChatId !== marker.sala_chat_id) continue;
        room.unread = marker.unread;
        room.readUpTo = marker.read_up_to;
      }
      render();
    },
    setOpen(ref: RoomRef) {
      openKey = roomKey(ref);
      render();
    },
  };
}

export type Inbox = ReturnType<typeof createInbox>;
