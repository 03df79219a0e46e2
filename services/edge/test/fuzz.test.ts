/**
 * Thousands of random and malformed events over real sockets: wrong types, huge strings,
 * deep objects, binary attachments, unknown events. The edge must stay up, answer every
 * known event with a success or a clear protocol error, write nothing for a refusal, and
 * still take a valid message afterwards.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../src/events.js";
import type { EdgeServer } from "../src/index.js";
import { call, connectUser, startStack, type ClientSocket, type Stack } from "./harness.js";

const EVENTS = [
  "join_group",
  "leave_group",
  "send_message",
  "mark_delivered",
  "mark_read",
  "get_history",
  "edit_message",
  "delete_message",
  "get_conversations",
  "typing",
  "typing_stop",
  "watch_presence",
  "unwatch_presence",
  "sync",
] as const;
const RUNS = Number(process.env["FUZZ_RUNS"] ?? 2000);

let stack: Stack;
let edge: EdgeServer;
beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge({ MAX_HTTP_BUFFER_SIZE: "200000" });
});
afterAll(async () => {
  await stack?.close();
});

/** Ids as clients might send them, good and bad. */
const id = fc.oneof(
  fc.constantFrom("1", "2", "456", "789", 1, 2, 456),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 25 }),
  fc.bigInt().map(String),
  fc.constantFrom(null, undefined, "", "0", "-1", "9223372036854775808", "1e3", " 7 ", "0x10"),
);
const text = fc.oneof(fc.string({ maxLength: 50 }), fc.string({ unit: "grapheme", maxLength: 200 }), fc.constant("x".repeat(4001)), fc.constant("\u0000"), fc.constant("'); DROP TABLE mensajes; --"));
const field = fc.oneof(id, text, fc.boolean(), fc.constant(null), fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 3 }), fc.object({ maxDepth: 2 }));
const payload = fc.oneof(
  fc.record(
    {
      to: id,
      group_id: id,
      mensaje_id: id,
      user_id: id,
      sender_id: id,
      type: fc.oneof(fc.constantFrom("directo", "grupal"), field),
      message: fc.oneof(text, field),
      message_type: fc.oneof(fc.constantFrom("texto", "imagen", "archivo", "audio", "sistema"), field),
      url_archivo: fc.oneof(fc.constantFrom("https://x.y/a.jpg", "ftp://x", "javascript:alert(1)"), field),
      timestamp: fc.oneof(fc.constantFrom("2024-01-15T10:30:00Z", "ayer"), field),
      client_msg_id: fc.oneof(fc.string({ maxLength: 70 }), field),
      before_id: id,
      limit: fc.oneof(fc.integer(), field),
      before: fc.oneof(fc.constantFrom("1764500000000000:5", "0:1", "x"), field),
      up_to: fc.oneof(fc.boolean(), field),
      since: fc.oneof(fc.constantFrom("1.0_1.0", "99999999.5_3.2", "x_y"), field),
      user_ids: fc.oneof(fc.array(id, { maxLength: 250 }), field),
    },
    { requiredKeys: [] },
  ),
  fc.anything({ maxDepth: 4 }),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc.constant({ a: { b: { c: { d: { e: { f: { g: { h: "profundo" } } } } } } } }),
  // A huge message (over MAX_HTTP_BUFFER_SIZE once encoded, for some units): a random unit
  // repeated, since drawing 100,000 random characters one by one took most of the run's time.
  fc
    .tuple(fc.string({ minLength: 1, maxLength: 8, unit: "grapheme" }), fc.integer({ min: 100_000, max: 120_000 }))
    .map(([unit, length]) => ({ to: "2", type: "directo", message: unit.repeat(Math.ceil(length / unit.length)) })),
);

const isRefusal = (reply: Record<string, unknown>) =>
  reply["status"] === "error" && (ERROR_CODES as readonly string[]).includes(reply["code"] as string) && typeof reply["message"] === "string" && (reply["message"] as string).length > 0;
const isSuccess = (reply: Record<string, unknown>) => reply["status"] === "ok" || reply["status"] === "sent";

describe("fuzzing the socket protocol", () => {
  it(`survives ${RUNS} random events with clear answers and no writes on refusal`, async () => {
    let socket: ClientSocket = (await connectUser(edge, 1)).socket;
    await call(socket, "join_group", { group_id: 456 });
    const before = Number((await stack.query("select count(*)::int as n from mensajes"))[0]!["n"]);
    let savedSends = 0;
    let refusals = 0;
    let unknownEvents = 0;
    let answeredAfterUnknown = 0;
    let oversized = false;

    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...EVENTS) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }), payload, async (event, body) => {
        // A packet over MAX_HTTP_BUFFER_SIZE makes the server close the connection: the next
        // event starts on a fresh one instead of racing that close.
        if (!socket.connected || oversized) {
          socket.disconnect();
          socket = (await connectUser(edge, 1)).socket;
        }
        oversized = JSON.stringify(body ?? null).length > 100_000;
        if (!(EVENTS as readonly string[]).includes(event)) {
          // Unknown events get no answer; the socket must stay usable: a known event sent right
          // after it on the same socket is answered (unless the packet was over the size limit,
          // which closes the connection, as below).
          unknownEvents++;
          (socket as unknown as { emit(e: string, p: unknown): void }).emit(event, body);
          if (oversized) return;
          const after = await call(socket, "typing", { to: "2", type: "directo" }, 10_000);
          expect(isRefusal(after) || isSuccess(after), `after unknown event ${JSON.stringify(event)}: ${JSON.stringify(after)}`).toBe(true);
          answeredAfterUnknown++;
          return;
        }
        let reply: Record<string, unknown>;
        try {
          reply = await call(socket, event, body, 10_000);
        } catch (err) {
          // Only a packet over MAX_HTTP_BUFFER_SIZE may end the connection (Engine.IO's own
          // limit); anything else must be answered.
          expect(JSON.stringify(body ?? null).length, `${event} unanswered (${(err as Error).message}): ${JSON.stringify(body ?? null).slice(0, 300)}`).toBeGreaterThan(100_000);
          return;
        }
        expect(isRefusal(reply) || isSuccess(reply), JSON.stringify(reply).slice(0, 200)).toBe(true);
        if (isRefusal(reply)) refusals++;
        if (event === "send_message" && reply["saved_to_db"] === true) savedSends++;
      }),
      { numRuns: RUNS },
    );

    if (!socket.connected) socket = (await connectUser(edge, 1)).socket;
    // Every stored message is one the edge ACKed as saved: refusals wrote nothing.
    const after = Number((await stack.query("select count(*)::int as n from mensajes"))[0]!["n"]);
    expect(after - before).toBeLessThanOrEqual(savedSends);
    expect(refusals).toBeGreaterThan(RUNS / 4);
    expect(unknownEvents).toBeGreaterThan(0);
    expect(answeredAfterUnknown).toBeGreaterThan(0);
    expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
    expect(await call(socket, "send_message", { to: "2", message: "sigo vivo", type: "directo" })).toMatchObject({ status: "sent", saved_to_db: true });
    socket.disconnect();
    // 2000 events, each answered before the next: a busy machine needs more than the default.
  }, 120_000);
});
