import { pino, type Logger } from "pino";

export type { Logger };

/** Paths never written to logs: credentials and message bodies. */
const REDACT = [
  "password",
  "token",
  "secret",
  "authorization",
  "*.password",
  "*.token",
  "*.secret",
  "*.authorization",
  "*.content",
  "*.message.content",
  "req.headers.authorization",
  "databaseUrl",
  "*.databaseUrl",
];

export function createLogger(options: { service: string; level?: string; destination?: pino.DestinationStream }): Logger {
  const settings = {
    name: options.service,
    level: options.level ?? "info",
    base: { service: options.service },
    redact: { paths: REDACT, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** Removes the password from a connection string so it can be logged. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable url)";
  }
}

/**
 * A loggable summary of an error. Drizzle puts the SQL parameters (message bodies among
 * them) into its error message, so only the statement text is kept, never the parameters.
 */
export function describeError(err: unknown): Record<string, unknown> {
  const chain: Record<string, unknown>[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && chain.length < 5) {
    const e = current as { name?: unknown; code?: unknown; message?: unknown; stack?: unknown };
    const message = typeof e.message === "string" ? e.message.split("\nparams:")[0] : String(current);
    chain.push({ name: e.name, code: e.code, message });
    current = (current as { cause?: unknown }).cause;
  }
  const stack = (err as { stack?: unknown })?.stack;
  return {
    ...chain[0],
    causes: chain.slice(1),
    stack: typeof stack === "string" ? stack.split("\n").filter((l) => !l.startsWith("params:")).slice(0, 12).join("\n") : undefined,
  };
}
