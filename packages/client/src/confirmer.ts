import { backoffDelay } from "./backoff.js";
import { ChatError, isTransient } from "./errors.js";

// The edge refuses a socket's 65th waiting event (RATE_LIMITED): a catch-up of thousands of
// messages must not fire thousands of confirmations at once. A few in flight keep the pipe full.
const IN_FLIGHT = 8;

/**
 * Confirms received messages (`mark_delivered`) a few at a time. A "not now" answer is
 * retried after the wait asked for, or a backoff; on a dropped connection the queue is
 * forgotten: the edge replays unconfirmed messages on the next connection, and they are
 * confirmed then.
 */
export class Confirmer {
  private queue: string[] = [];
  private readonly queued = new Set<string>();
  private inFlight = 0;
  private paused: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  private generation = 0;

  constructor(private readonly mark: (mensajeId: string) => Promise<unknown>) {}

  confirm(mensajeId: string): void {
    if (this.queued.has(mensajeId)) return;
    this.queued.add(mensajeId);
    this.queue.push(mensajeId);
    this.pump();
  }

  /** The connection dropped: what waits now would be replayed anyway. */
  reset(): void {
    this.generation++;
    this.queue = [];
    this.queued.clear();
    clearTimeout(this.paused);
    this.paused = undefined;
    this.inFlight = 0;
  }

  private pump(): void {
    while (this.inFlight < IN_FLIGHT && this.paused === undefined && this.queue.length > 0) {
      const id = this.queue.shift()!;
      const generation = this.generation;
      this.inFlight++;
      this.mark(id).then(
        () => {
          if (generation !== this.generation) return;
          this.failures = 0;
          this.done(id);
        },
        (err: unknown) => {
          if (generation !== this.generation) return;
          if (err instanceof ChatError && err.code !== "DISCONNECTED" && isTransient(err)) {
            this.inFlight--;
            this.queue.unshift(id);
            this.paused ??= setTimeout(() => {
              this.paused = undefined;
              this.pump();
            }, err.retryAfterMs ?? backoffDelay(this.failures++));
            return;
          }
          this.done(id);
        },
      );
    }
  }

  private done(id: string): void {
    this.inFlight--;
    this.queued.delete(id);
    this.pump();
  }
}
