import { invalidArgument } from "./errors.js";

/**
 * A place in a change feed (messages' and delivery's): the writing transaction's id (xid8,
 * as decimal text) and the row's position. Feeds are read in (xid, pos) order, only up to the
 * oldest transaction still running, so nothing can commit later behind a position handed out.
 */
export interface FeedPosition {
  xid: string;
  pos: bigint;
}

/** Positions travel as `<xid>.<pos>`: opaque to callers. */
export const encodeFeedPosition = (p: FeedPosition) => `${p.xid}.${p.pos}`;

export function decodeFeedPosition(text: string, field: string): FeedPosition {
  const match = /^([0-9]{1,20})\.([0-9]{1,19})$/.exec(text);
  if (!match) throw invalidArgument(`${field} is not a position this feed gave`);
  return { xid: match[1]!, pos: BigInt(match[2]!) };
}

/** a comes before b in feed order. */
export function feedBefore(a: FeedPosition, b: FeedPosition): boolean {
  const ax = BigInt(a.xid);
  const bx = BigInt(b.xid);
  return ax < bx || (ax === bx && a.pos < b.pos);
}
