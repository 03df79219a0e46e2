import type { Client } from "@connectrpc/connect";
import { describeError, type Logger } from "@redup/kit";
import type { DeliveryService } from "@redup/proto/redup/delivery/v1/delivery_pb";

/** Reports per call (delivery's batch bound). */
const MAX_REPORTS = 1000;
/** Reports are gathered this long before a call. */
const GATHER_MS = 50;
const RETRY_MS = 1000;
const CLOSE_TIMEOUT_MS = 2000;

/**
 * Tells delivery which users this edge holds, so a user is online while any edge holds them:
 * the user's first socket here reports them online, and their last socket leaving reports them
 * offline after a grace period (a reconnect within it reports nothing, so a flapping
 * connection is no storm of presence events). Reports keep their order (one call at a time,
 * the latest state per user), and are retried until delivery takes them. A heartbeat keeps the
 * edge alive in delivery's eyes; when delivery lost track of it (it was taken for dead), the
 * edge reports everyone it holds again. At start and at close the edge resets what delivery
 * knows of it, so a restart under the same EDGE_ID leaves nobody online by mistake.
 */
export interface PresenceReporter {
  /** The user's first socket on this edge. */
  arrived(userId: string): void;
  /** The user's last socket on this edge closed. */
  left(userId: string): void;
  close(): Promise<void>;
}

export interface PresenceReporterDeps {
  delivery: Client<typeof DeliveryService>;
  edgeId: string;
  logger: Logger;
  heartbeatMs: number;
  graceMs: number;
  /** Whether a user still has a socket here, and every user who does. */
  holds(userId: string): boolean;
  held(): Iterable<string>;
}

export function createPresenceReporter(deps: PresenceReporterDeps): PresenceReporter {
  const { delivery, edgeId, logger } = deps;
  /** The state to report of each user, latest wins. */
  const pending = new Map<string, boolean>();
  const leaving = new Map<string, NodeJS.Timeout>();
  /** Delivery does not know this edge yet (or forgot it): reset, then report everyone held. */
  let mustReset = true;
  let flushing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const schedule = (delayMs = GATHER_MS) => {
    if (closed || timer || flushing) return;
    timer = setTimeout(() => {
      timer = undefined;
      flushing = flush().finally(() => {
        flushing = undefined;
        if (pending.size > 0 || mustReset) schedule();
      });
    }, delayMs);
    timer.unref();
  };

  const reportEveryone = () => {
    for (const userId of deps.held()) pending.set(userId, true);
  };

  async function flush(): Promise<void> {
    try {
      if (mustReset) {
        await delivery.edgeHeartbeat({ edgeId, reset: true });
        mustReset = false;
        reportEveryone();
      }
      while (pending.size > 0 && !closed) {
        const batch = [...pending].slice(0, MAX_REPORTS);
        await delivery.reportPresence({ edgeId, reports: batch.map(([userId, online]) => ({ userId: BigInt(userId), online })) });
        // Taken, unless a newer state of the user came in meanwhile.
        for (const [userId, online] of batch) if (pending.get(userId) === online) pending.delete(userId);
      }
    } catch (err) {
      logger.warn({ err: describeError(err), pending: pending.size }, "[PRESENCE] delivery did not take the presence reports; retrying");
      await new Promise((r) => setTimeout(r, RETRY_MS).unref());
    }
  }

  const heartbeat = setInterval(() => {
    if (mustReset) return schedule(0);
    delivery.edgeHeartbeat({ edgeId }).then(
      ({ known }) => {
        if (known) return;
        logger.warn({ edgeId }, "[PRESENCE] delivery had taken this edge for dead; reporting its users again");
        mustReset = true;
        schedule(0);
      },
      (err: unknown) => logger.warn({ err: describeError(err) }, "[PRESENCE] heartbeat failed"),
    );
  }, deps.heartbeatMs);
  heartbeat.unref();
  schedule(0);

  return {
    arrived(userId) {
      const grace = leaving.get(userId);
      if (grace) {
        // Back within the grace period: nothing changed for anyone else.
        clearTimeout(grace);
        leaving.delete(userId);
        return;
      }
      pending.set(userId, true);
      schedule();
    },

    left(userId) {
      if (leaving.has(userId)) return;
      const grace = setTimeout(() => {
        leaving.delete(userId);
        if (deps.holds(userId)) return;
        pending.set(userId, false);
        schedule();
      }, deps.graceMs);
      grace.unref();
      leaving.set(userId, grace);
    },

    async close() {
      closed = true;
      clearInterval(heartbeat);
      if (timer) clearTimeout(timer);
      for (const grace of leaving.values()) clearTimeout(grace);
      leaving.clear();
      await flushing;
      // Everyone this edge held leaves it now, rather than when delivery notices the silence.
      try {
        await delivery.edgeHeartbeat({ edgeId, reset: true }, { timeoutMs: CLOSE_TIMEOUT_MS });
      } catch (err) {
        logger.warn({ err: describeError(err) }, "[PRESENCE] could not release this edge's users at close; delivery will when its heartbeat stops");
      }
    },
  };
}
