import type { SendMessagePayload } from "@redup/edge/events";

/** A message waiting for its ACK: what will be sent again, with the same `client_msg_id`. */
export interface OutboxEntry {
  client_msg_id: string;
  payload: SendMessagePayload & { client_msg_id: string };
  /** Epoch milliseconds of the `send()` call. */
  created_at: number;
  /** How many times it went out so far. */
  attempts: number;
}

/**
 * Keeps the outbox across app restarts. The whole list is saved on every change: it holds
 * only what waits for an ACK, a handful of entries, so simplicity wins over increments.
 * Both methods may be asynchronous (React Native's AsyncStorage).
 */
export interface OutboxStore {
  load(): OutboxEntry[] | Promise<OutboxEntry[]>;
  save(entries: OutboxEntry[]): void | Promise<void>;
}

/** The default: the outbox lives as long as the page or the process. */
export function memoryOutbox(): OutboxStore {
  let saved: OutboxEntry[] = [];
  return {
    load: () => saved.map((e) => ({ ...e })),
    save: (entries) => {
      saved = entries.map((e) => ({ ...e }));
    },
  };
}

/** The part of the Web Storage interface the adapter uses (window.localStorage has it). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** An outbox kept in `localStorage` (or any Web Storage) under `key`, as JSON. */
export function localStorageOutbox(key = "redup.outbox", storage?: StorageLike): OutboxStore {
  const target = (): StorageLike => {
    const s = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (!s) throw new Error("localStorageOutbox: no localStorage here; pass a Storage");
    return s;
  };
  return {
    load() {
      const text = target().getItem(key);
      if (text === null) return [];
      try {
        const parsed: unknown = JSON.parse(text);
        return Array.isArray(parsed) ? parsed.filter(isEntry) : [];
      } catch {
        // A corrupt value must not stop the app from starting; what it held is lost.
        return [];
      }
    },
    save(entries) {
      if (entries.length === 0) target().removeItem(key);
      else target().setItem(key, JSON.stringify(entries));
    },
  };
}

function isEntry(value: unknown): value is OutboxEntry {
  const e = value as Partial<OutboxEntry> | null;
  return typeof e === "object" && e !== null && typeof e.client_msg_id === "string" && typeof e.payload === "object" && e.payload !== null;
}
