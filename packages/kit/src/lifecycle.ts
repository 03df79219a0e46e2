import type { Logger } from "pino";
import { createLogger, defaultLogFormat, describeError } from "./logger.js";
import { installTracing } from "./tracing.js";

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
      logger.fatal({ err: describeError(err) }, "failed to start");
      process.exit(1);
    },
  );
}

/** What serviceMain reads of a service's config. */
export interface EntryConfig {
  logLevel: string;
  /** NODE_ENV: production always logs JSON. */
  env: string;
  otlpEndpoint?: string | undefined;
}

export interface ServiceEntry<C extends EntryConfig> {
  service: string;
  loadConfig: () => C;
  start: (config: C, logger: Logger) => Promise<Stoppable>;
  migrate: (config: C, logger: Logger) => Promise<void>;
}

/**
 * The body of every service's main.ts: `node main.js` serves, `node main.js migrate` only
 * applies migrations. A bad configuration exits 1 naming every bad variable.
 */
export function serviceMain<C extends EntryConfig>(entry: ServiceEntry<C>, argv = process.argv): void {
  let config: C;
  try {
    config = entry.loadConfig();
  } catch (err) {
    process.stderr.write(`${entry.service}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const logger = createLogger({ service: entry.service, level: config.logLevel, format: defaultLogFormat(config.env) });
  if (argv[2] === "migrate") {
    entry.migrate(config, logger).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.fatal({ err: describeError(err) }, "migration failed");
        process.exit(1);
      },
    );
    return;
  }
  runMain(logger, () => withTracing(`redup-${entry.service}`, config.otlpEndpoint, () => entry.start(config, logger)));
}

/** Starts tracing (when an OTLP endpoint is configured) before `start`, and flushes it on close. */
export async function withTracing(serviceName: string, otlpEndpoint: string | undefined, start: () => Promise<Stoppable>): Promise<Stoppable> {
  const tracing = otlpEndpoint ? installTracing({ serviceName, otlpEndpoint }) : undefined;
  const running = await start();
  return {
    async close() {
      await running.close();
      await tracing?.shutdown();
    },
  };
}
