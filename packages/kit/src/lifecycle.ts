import type { Logger } from "pino";

/** Something started that must be stopped on shutdown. */
export interface Stoppable {
  close(): Promise<void>;
}

/**
 * Runs a process entry: starts it, then on SIGTERM/SIGINT closes it once (a second signal
 * exits at once). A failure to start exits with code 1 after logging why.
 */
export function runMain(logger: Logger, start: () => Promise<Stoppable>): void {
  let stopping = false;
  start().then(
    (running) => {
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          logger.warn({ signal }, "second signal, exiting now");
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, "shutting down");
        running.close().then(
          () => {
            logger.info("stopped");
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ err: { message: (err as Error).message } }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
    },
    (err: unknown) => {
      logger.fatal({ err: { name: (err as Error).name, message: (err as Error).message } }, "failed to start");
      process.exit(1);
    },
  );
}
