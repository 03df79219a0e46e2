import { pino, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

/** `json`: one JSON object a line (production, and whenever stdout is piped); `pretty`: for a person. */
export type LogFormat = "json" | "pretty";

/**
 * Readable lines for a person at a terminal, JSON everywhere else: production always logs
 * JSON, and so does any process whose stdout is a pipe or a file (log collectors, tests, CI).
 */
export function defaultLogFormat(nodeEnv: string | undefined, stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  return nodeEnv !== "production" && stdout.isTTY === true ? "pretty" : "json";
}

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

export interface LoggerOptions {
  service: string;
  level?: string | undefined;
  /** Where lines go; stdout when unset. */
  destination?: pino.DestinationStream | undefined;
  /** `json` unless told otherwise (see defaultLogFormat). */
  format?: LogFormat | undefined;
}

/**
 * The service's pino logger. Redaction happens in pino before a line is formatted, so tokens
 * and message bodies are censored in both formats.
 */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    name: options.service,
    level: options.level ?? "info",
    base: { service: options.service },
    redact: { paths: REDACT, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.format === "pretty") {
    const stream = pretty({
      destination: options.destination ?? 1,
      // Colours only on the terminal itself; a given stream gets plain text.
      colorize: options.destination === undefined,
      // The service is the logger's name, shown as "INFO (rooms): …".
      ignore: "pid,hostname,service",
      translateTime: "SYS:HH:MM:ss.l",
      singleLine: true,
      sync: true,
    });
    return pino(settings, stream);
  }
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
