import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { describeError } from "./logger.js";

/** Shorthands so service code states intent, not codes. */
export const invalidArgument = (message: string) => new ConnectError(message, Code.InvalidArgument);
export const notFound = (message: string) => new ConnectError(message, Code.NotFound);
export const permissionDenied = (message: string) => new ConnectError(message, Code.PermissionDenied);
export const failedPrecondition = (message: string) => new ConnectError(message, Code.FailedPrecondition);
export const unavailable = (message: string, cause?: unknown) =>
  new ConnectError(message, Code.Unavailable, undefined, undefined, cause);

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

const UNAVAILABLE_MESSAGES = [
  "timeout exceeded when trying to connect",
  "Connection terminated",
  "Client has encountered a connection error",
  "Cannot use a pool after calling end",
  "connection is closed",
];

/** Failures while opening a connection: nothing was sent, so any call may go elsewhere. */
const CONNECT_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/** node-postgres's error, without a code, when a connection's socket ends while a query runs. */
const PG_TRANSPORT_MESSAGE = "Connection terminated unexpectedly";

/**
 * How a call failed at the network level, read along the `cause` links: "connect" when the
 * connection could not be opened (the request never left), "transport" when an open
 * connection broke (the request may have been handled), undefined for any other failure.
 */
export function networkFailureOf(err: unknown): "connect" | "transport" | undefined {
  for (const link of causes(err)) {
    const code = (link as { code?: unknown }).code;
    if (typeof code !== "string") {
      if (link instanceof Error && link.message.includes(PG_TRANSPORT_MESSAGE)) return "transport";
      continue;
    }
    if (CONNECT_CODES.has(code)) return "connect";
    if (NETWORK_CODES.has(code) || code.startsWith("ERR_HTTP2")) return "transport";
  }
  return undefined;
}

/** Walks `cause` links so wrapped driver errors (DrizzleQueryError) are still recognised. */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && chain.length < 8) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/**
 * The PostgreSQL SQLSTATE of a database error (e.g. "23505"), looked for along the `cause`
 * links (Drizzle wraps the driver's error); undefined for any other error.
 */
export function sqlStateOf(err: unknown): string | undefined {
  for (const link of causes(err)) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

function codeFor(err: unknown): { code: Code; message: string } | undefined {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  const message = typeof e.message === "string" ? e.message : "";
  if (code !== undefined) {
    if (code === "23505") return { code: Code.AlreadyExists, message: "the row already exists" };
    if (code === "23503") return { code: Code.FailedPrecondition, message: "a referenced row does not exist" };
    if (code === "23502" || code === "23514") return { code: Code.FailedPrecondition, message: "the database refused the row" };
    if (code === "22P02" || code === "22003" || code === "22001") return { code: Code.InvalidArgument, message: "a value is out of range" };
    if (code === "57014") return { code: Code.DeadlineExceeded, message: "the database query timed out" };
    if (code === "40001" || code === "40P01") return { code: Code.Aborted, message: "transaction conflict, retry" };
    if (code === "55P03") return { code: Code.Aborted, message: "the database is busy (lock timeout), retry" };
    if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300")
      return { code: Code.Unavailable, message: "the database is unavailable" };
    if (NETWORK_CODES.has(code)) return { code: Code.Unavailable, message: "a dependency is unavailable" };
  }
  if (message.includes("Query read timeout")) return { code: Code.DeadlineExceeded, message: "the database query timed out" };
  if (UNAVAILABLE_MESSAGES.some((m) => message.includes(m)))
    return { code: Code.Unavailable, message: "the database is unavailable" };
  return undefined;
}

/**
 * The error without its metadata. A server sends an error's metadata as response headers
 * (Connect) or trailers (gRPC, gRPC-Web). A ConnectError from a call to another service holds
 * that call's HTTP response headers and trailers as metadata (content-type, content-length,
 * date, grpc-status…): passed on as is, they would become this response's trailers, where
 * HTTP/2 forbids them, and strict clients (nghttp2, curl, grpcio) reset the stream before
 * reading the status. So no error leaves a service with metadata: the copy keeps the code,
 * message and details, and the original (with its metadata) stays as `cause`, for the logs.
 * A handler that means to send metadata with an error sets ctx.responseTrailer instead.
 */
function bare(err: ConnectError): ConnectError {
  if ([...err.metadata.keys()].length === 0) return err;
  const copy = new ConnectError(err.rawMessage, err.code, undefined, undefined, err);
  copy.details = err.details;
  return copy;
}

/** The one mapping from any thrown value to a ConnectError a client may see. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return bare(err);
  for (const link of causes(err)) {
    if (link instanceof ConnectError) return bare(link);
    const mapped = codeFor(link);
    if (mapped) return new ConnectError(mapped.message, mapped.code, undefined, undefined, err);
  }
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/** Why one entry of a batch answer was refused (SendMessageError, MarkError). */
export interface EntryError {
  code: number;
  message: string;
}

/**
 * One batch entry's failure as its own result, mapped as a whole call's would be. No
 * interceptor sees it, so an internal failure is logged here, as errorInterceptor would.
 */
export function toEntryError(err: unknown, logger: Logger, rpc: string): EntryError {
  const mapped = toConnectError(err);
  if (mapped.code === Code.Internal || mapped.code === Code.Unknown) {
    logger.error({ rpc, err: describeError(mapped.cause ?? err) }, "one entry of a batch failed");
  }
  return { code: mapped.code, message: mapped.rawMessage };
}

/** The caller's side: the ConnectError a refused batch entry stands for. */
export function fromEntryError(entry: EntryError): ConnectError {
  return new ConnectError(entry.message, entry.code as Code);
}

/** Re-throws whatever a response stream throws through `fail`. */
async function* mapStreamErrors<T>(messages: AsyncIterable<T>, fail: (err: unknown) => ConnectError): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw fail(err);
  }
}

/**
 * Maps errors and logs each call; only Internal/Unknown are logged at error level. Covers a
 * unary call's error and an error a response stream throws (Health.Watch, reflection).
 */
export function errorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const rpc = req.method.name;
    const fail = (err: unknown): ConnectError => {
      const mapped = toConnectError(err);
      const fields = { rpc, code: Code[mapped.code], ms: Math.round(performance.now() - started) };
      if (mapped.code === Code.Internal || mapped.code === Code.Unknown) {
        logger.error({ ...fields, err: describeError(mapped.cause ?? err) }, "rpc failed");
      } else {
        logger.info({ ...fields, reason: mapped.rawMessage }, "rpc refused");
      }
      return mapped;
    };
    try {
      const res = await next(req);
      if (res.stream) return { ...res, message: mapStreamErrors(res.message, fail) };
      logger.debug({ rpc, ms: Math.round(performance.now() - started) }, "rpc ok");
      return res;
    } catch (err) {
      throw fail(err);
    }
  };
}
