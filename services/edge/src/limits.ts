import type { Limits } from "./config.js";

/** A token bucket: `rate` tokens a second, holding at most `burst`. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Per-connection and per-user event budgets. A refused event answers RATE_LIMITED and the
 * socket stays usable: the budget refills with time.
 */
export function createRateLimiter(limits: Limits) {
  const sockets = new WeakMap<object, TokenBucket>();
  const users = new Map<string, TokenBucket>();
  return {
    /** Takes one event from the socket's and the user's budgets; false when either is empty. */
    allow(socketKey: object, userId: string): boolean {
      let socket = sockets.get(socketKey);
      if (!socket) sockets.set(socketKey, (socket = new TokenBucket(limits.eventsPerSecond, limits.eventBurst)));
      let user = users.get(userId);
      if (!user) users.set(userId, (user = new TokenBucket(limits.userEventsPerSecond, limits.userEventBurst)));
      return socket.take() && user.take();
    },
    /** Forgets a user's budget once they have no socket here. */
    forget(userId: string): void {
      users.delete(userId);
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** Runs tasks at most `limit` at a time, the others waiting in arrival order. */
export function createTurns(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return {
    async run(task: () => Promise<void>): Promise<void> {
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      active++;
      try {
        await task();
      } finally {
        active--;
        waiting.shift()?.();
      }
    },
    /** Tasks waiting for their turn (metrics). */
    get waiting() {
      return waiting.length;
    },
    /** Tasks running now (metrics). */
    get active() {
      return active;
    },
  };
}

export type Turns = ReturnType<typeof createTurns>;
