import { describeError, type Logger } from "./logger.js";

/** A background task run every few seconds; `stop` waits for a run in progress. */
export interface Periodic {
  stop(): Promise<void>;
}

/**
 * Runs `task` every `intervalMs`, one run at a time (a slow run delays the next, never
 * overlaps it). A failed run is logged and the next one tries again.
 */
export function startPeriodic(what: string, intervalMs: number, task: () => Promise<void>, logger: Logger): Periodic {
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    running = task()
      .catch((err: unknown) => logger.warn({ err: describeError(err) }, `${what} failed; trying again`))
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
