import { invalidArgument } from "./errors.js";

/** The largest PostgreSQL BIGINT. */
export const MAX_BIGINT = 9223372036854775807n;

/** Every id in RedUP is a positive BIGINT; anything else is InvalidArgument naming the field. */
export function requireId(value: bigint, field: string): bigint {
  if (value <= 0n || value > MAX_BIGINT) throw invalidArgument(`${field} must be a positive integer that fits a BIGINT`);
  return value;
}

/** Every batch RPC takes 1 to this many entries. */
export const BATCH_MAX = 1000;

/**
 * The entries of a batch request, refused as a whole when there are none or more than `max`;
 * `what` names them in the refusal ("requests must hold 1 to 1000 messages").
 */
export function requireBatch<T>(entries: T[], field: string, what: string, max = BATCH_MAX): T[] {
  if (entries.length === 0 || entries.length > max) throw invalidArgument(`${field} must hold 1 to ${max} ${what}`);
  return entries;
}

/** An optional id: 0 means absent. */
export function optionalId(value: bigint, field: string): bigint | undefined {
  return value === 0n ? undefined : requireId(value, field);
}

/** Clamps a requested page size: 0 means the default, above the maximum is refused. */
export function pageSize(requested: number, fallback: number, max: number): number {
  if (requested === 0) return fallback;
  if (requested < 0 || requested > max) throw invalidArgument(`page_size must be between 1 and ${max}`);
  return requested;
}

/** Page tokens are the last id seen, as a decimal string. */
export function parsePageToken(token: string): bigint | undefined {
  if (token === "") return undefined;
  if (!/^[1-9][0-9]{0,18}$/.test(token)) throw invalidArgument("page_token is not valid");
  return requireId(BigInt(token), "page_token");
}

/** True for an absolute http(s) URL. */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/** True for an ISO 8601 date-time such as 2024-01-15T10:30:00Z or with an offset. */
export function isIsoTimestamp(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
  if (match === null) return false;
  const [, y, mo, d, h, mi] = match;
  // Date.parse rolls 2024-02-30 over to March: the calendar date must survive a round trip.
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  return (
    day.getUTCFullYear() === Number(y) && day.getUTCMonth() === Number(mo) - 1 && day.getUTCDate() === Number(d) &&
    Number(h) < 24 && Number(mi) < 60 && Number(match[7] ?? 0) < 60
  );
}
