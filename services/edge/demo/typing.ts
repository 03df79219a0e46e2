/**
 * Typing, both ways: the user's own (a `typing` about every 3 s while keys are pressed, as
 * the protocol asks, and a stop after a pause or a send) and who else is typing in the open
 * conversation.
 */
import type { ChatClient, ChatType } from "@redup/client";
import { $ } from "./dom.js";

const REFRESH_MS = 3000;
const IDLE_MS = 4000;
// The server ends a typing by itself after 6 s; this only guards against a lost stop.
const EXPIRE_MS = 8000;

export function createTyping(client: ChatClient) {
  const typers = new Map<string, ReturnType<typeof setTimeout>>();
  let mine: { type: ChatType; to: string; sentAt: number } | null = null;
  let idle: ReturnType<typeof setTimeout> | undefined;

  function show() {
    const names = [...typers.keys()].map((id) => `Usuario ${id}`);
    $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "están" : "está"} escribiendo…` : "";
  }

  const stop = () => {
    clearTimeout(idle);
    if (mine) client.stopTyping(mine.type, mine.to);
    mine = null;
  };

  return {
    /** A key pressed in the send box of this conversation. */
    keystroke(type: ChatType, to: string) {
      if (!mine || mine.type !== type || mine.to !== to || Date.now() - mine.sentAt > REFRESH_MS) {
        mine = { type, to, sentAt: Date.now() };
        client.typing(type, to);
      }
      clearTimeout(idle);
      idle = setTimeout(stop, IDLE_MS);
    },
    stop,
    /** Someone else in the open conversation started (active) or stopped typing. */
    other(from: string, active: boolean) {
      clearTimeout(typers.get(from));
      typers.delete(from);
      if (active) typers.set(from, setTimeout(() => (typers.delete(from), show()), EXPIRE_MS));
      show();
    },
    clear() {
      for (const timer of typers.values()) clearTimeout(timer);
      typers.clear();
      show();
    },
  };
}
