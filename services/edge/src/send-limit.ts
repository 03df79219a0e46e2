/** How often the limit is adjusted, from the sends answered in the window just ended. */
const WINDOW_MS = 100;
/** Fewer answers than this in a window say nothing about the latency: the limit stays. */
const MIN_SAMPLES = 10;
/** Above this share of answers later than the target, the window counts as late. */
const LATE_SHARE = 0.1;

export interface SendLimitOptions {
  /** The latency a send should be answered within (from its turn to its answer), ms. */
  targetMs: number;
  /** The limit never goes below this: a slow but working system still carries this many. */
  min: number;
  /** Nor above this (MAX_PENDING_EVENTS). */
  max: number;
  /** The clock, in ms (tests); performance.now by default. */
  now?: () => number;
}

/**
 * An adaptive limit on the sends in progress on this edge, increased and decreased like TCP's
 * congestion window (AIMD) from the latency of the answers: when more than a tenth of a
 * window's sends were answered later than the target, the limit drops to 80 % of what was in
 * progress; when they kept pace (or none was in progress), it grows by a tenth, up to its maximum.
 *
 * Why: the edge's own CPU is a queue that no queue length shows. Under overload, work accepted
 * beyond what the edge (or what stands behind it) can finish waits in the event loop, and
 * every accepted send is answered seconds late. Bounding the sends in progress to what is
 * answered within the target keeps the accepted ones fast; the rest are refused at once as
 * OVERLOADED, with a retry hint, instead of queueing.
 */
export function createSendLimit(options: SendLimitOptions) {
  const { targetMs, min, max } = options;
  const now = options.now ?? (() => performance.now());
  let limit = max;
  let active = 0;
  let windowStart = now();
  let answered = 0;
  let late = 0;
  let peak = 0;

  const grow = () => {
    limit = Math.min(max, limit + Math.max(8, Math.ceil(limit / 10)));
  };

  const adjust = (at: number) => {
    if (at - windowStart < WINDOW_MS) return;
    const judged = answered >= MIN_SAMPLES;
    if (judged && late > answered * LATE_SHARE) limit = Math.max(min, Math.floor(Math.min(limit, peak) * 0.8));
    // In time, or a few answers none late, or nothing in progress at all: back up. Growing only
    // while the limit held sends back, as TCP does, would leave it at its floor after one slow
    // spell and refuse the next burst that the system could carry. A few answers with some
    // late, or sends in progress that none answered (stalled), say nothing good: it holds.
    else if (judged || (late === 0 && (answered > 0 || peak === 0))) grow();
    // The windows since went by without a send starting or ending: quiet if none is in progress.
    for (let idle = Math.floor((at - windowStart) / WINDOW_MS) - 1; idle > 0 && active === 0 && limit < max; idle--) grow();
    windowStart = at;
    answered = 0;
    late = 0;
    peak = active;
  };

  return {
    /** Whether a send arriving now could start (a refusal on arrival costs the least). */
    open(): boolean {
      adjust(now());
      return active < limit;
    },
    /** Takes a place for a send whose turn came; false when the limit is reached. */
    start(): boolean {
      adjust(now());
      if (active >= limit) return false;
      active++;
      if (active > peak) peak = active;
      return true;
    },
    /** Gives a place back; `latencyMs` from the send's turn to its answer, absent when it failed. */
    finish(latencyMs?: number): void {
      active--;
      if (latencyMs !== undefined) {
        answered++;
        if (latencyMs > targetMs) late++;
      }
      adjust(now());
    },
    /** The current limit (metrics). */
    get limit() {
      return limit;
    },
    /** Sends in progress (metrics). */
    get active() {
      return active;
    },
  };
}

export type SendLimit = ReturnType<typeof createSendLimit>;
