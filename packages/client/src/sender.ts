import type { SendAck, SendMessagePayload } from "@redup/edge/events";
import { backoffDelay } from "./backoff.js";
import { ChatError, isTransient } from "./errors.js";
import { newClientMsgId } from "./ids.js";
import type { OutboxEntry, OutboxStore } from "./outbox.js";
import type { SendInput } from "./types.js";

export interface SenderDeps {
  store: OutboxStore;
  /** Emits one `send_message` and resolves with its ACK, or rejects with a ChatError. */
  transmit(payload: SendMessagePayload): Promise<SendAck>;
  sent(entry: OutboxEntry, ack: SendAck): void;
  failed(entry: OutboxEntry, error: ChatError): void;
}

/**
 * The outbox: every message waits here, with its `client_msg_id`, until the edge ACKs it.
 * One message is in flight at a time, oldest first, so a user's messages are stored in the
 * order they were written. A cut connection or a "not now" answer (OVERLOADED, RATE_LIMITED,
 * SERVICE_UNAVAILABLE, no answer in time) sends the same entry again — on the next
 * connection, or after the wait the edge asked for, or after a backoff — and the edge stores
 * it once whatever the number of tries. Any other refusal drops it and rejects its send().
 */
export class Sender {
  private entries: OutboxEntry[] = [];
  private readonly waiters = new Map<string, { resolve(ack: SendAck): void; reject(err: ChatError): void }>();
  private readonly loaded: Promise<void>;
  private connected = false;
  private inFlight = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;

  constructor(private readonly deps: SenderDeps) {
    // Entries left by a previous run go first; they have no send() waiting, only `sent`/`failed` events.
    this.loaded = Promise.resolve(deps.store.load())
      .then((restored) => {
        const fresh = this.entries;
        this.entries = [...restored.filter((r) => !fresh.some((f) => f.client_msg_id === r.client_msg_id)), ...fresh];
      })
      .catch(() => undefined)
      .then(() => this.pump());
  }

  send(input: SendInput): Promise<SendAck> {
    const { client_msg_id = newClientMsgId(), ...rest } = input;
    const existing = this.waiters.get(client_msg_id);
    if (existing) return Promise.reject(new ChatError("INVALID_CLIENT_MSG_ID", `client_msg_id ${client_msg_id} is already waiting`, "send_message"));
    const entry: OutboxEntry = { client_msg_id, payload: { ...rest, client_msg_id }, created_at: Date.now(), attempts: 0 };
    return new Promise<SendAck>((resolve, reject) => {
      this.waiters.set(client_msg_id, { resolve, reject });
      this.entries.push(entry);
      this.persist();
      this.pump();
    });
  }

  pending(): OutboxEntry[] {
    return this.entries.map((e) => ({ ...e, payload: { ...e.payload } }));
  }

  online(): void {
    this.connected = true;
    this.failures = 0;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.pump();
  }

  offline(): void {
    this.connected = false;
  }

  /** The client is closed: pending send()s reject; the entries stay in the store for the next run. */
  close(): void {
    this.connected = false;
    clearTimeout(this.retryTimer);
    for (const [id, waiter] of this.waiters) waiter.reject(new ChatError("CLOSED", `closed before message ${id} was acknowledged`, "send_message"));
    this.waiters.clear();
  }

  private pump(): void {
    const entry = this.entries[0];
    if (!entry || !this.connected || this.inFlight || this.retryTimer !== undefined) return;
    this.inFlight = true;
    entry.attempts++;
    this.persist();
    this.deps
      .transmit(entry.payload)
      .then(
        (ack) => {
          this.failures = 0;
          this.finish(entry);
          this.deps.sent(entry, ack);
          this.waiters.get(entry.client_msg_id)?.resolve(ack);
          this.waiters.delete(entry.client_msg_id);
        },
        (err: unknown) => {
          const error = err instanceof ChatError ? err : new ChatError("INTERNAL_ERROR", String(err), "send_message");
          if (error.code === "DISCONNECTED") return; // the next connection sends it again
          if (isTransient(error)) {
            this.retryTimer = setTimeout(() => {
              this.retryTimer = undefined;
              this.pump();
            }, error.retryAfterMs ?? backoffDelay(this.failures++));
            return;
          }
          this.finish(entry);
          this.deps.failed(entry, error);
          this.waiters.get(entry.client_msg_id)?.reject(error);
          this.waiters.delete(entry.client_msg_id);
        },
      )
      .finally(() => {
        this.inFlight = false;
        this.pump();
      });
  }

  private finish(entry: OutboxEntry): void {
    this.entries = this.entries.filter((e) => e !== entry);
    this.persist();
  }

  private persist(): void {
    // Saving before the store was read would overwrite what the previous run left.
    void this.loaded.then(() => this.deps.store.save(this.pending())).catch(() => undefined);
  }
}
