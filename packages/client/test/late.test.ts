/**
 * The one way a message can reach the client after a newer one of its room: its change was
 * not in the feed yet when the reconnect read it (its transaction was still open), and the
 * second read a moment later brings it. It is given once, marked `late`, not dropped; and
 * what arrives live during that second read is held and sorted with it, as in the first.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@redup/kit/testing";
import { collect, online, startStack, type Stack } from "./stack.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

describe("a message the reconnect's feed read could not see yet", () => {
  it("arrives with the second read, once, marked late", async () => {
    const edge = await stack.startEdge();
    const proxy = await stack.proxy(edge);
    const ana = stack.client(edge.port, { auth: { user_id: "601" } });
    const luis = stack.client(proxy.port, { auth: { user_id: "602" } });
    const received = collect(luis, "message");
    const receipts = collect(ana, "delivered");
    await Promise.all([online(ana), online(luis)]);
    await waitFor(() => luis.cursor !== undefined, 5000, "a feed cursor");
    await proxy.cut();

    // From here the feed stops short of what is written: as if a slow transaction were running.
    const commit = await stack.openTransaction();
    try {
      // Luis's phone confirms the first message, so the edge will not replay it to his laptop:
      // only the feed has it for him.
      const phone = stack.client(edge.port, { auth: { user_id: "602" } });
      await online(phone);
      const older = await ana.send({ to: "602", type: "directo", message: "antes" });
      await waitFor(() => receipts.some((r) => r.mensaje_id === older.mensaje_id), 10_000, "the phone's confirmation");
      phone.close();
      const newer = await ana.send({ to: "602", type: "directo", message: "después" });

      // Back: the replay brings the newer one; the feed's first read cannot see the older yet.
      await proxy.restore();
      await waitFor(() => received.length === 1, 10_000, "the replayed message");
      expect(received[0]).toMatchObject({ mensaje_id: newer.mensaje_id, message: "después" });
      expect(received[0]!.late).toBeUndefined();
      await commit();

      // The second read brings both, released together: the older one after the newer, so
      // marked late; the newer one not again (it would be in the same release, right after).
      await waitFor(() => received.length >= 2, 10_000, "the older message from the second read");
      expect(received).toHaveLength(2);
      expect(received[1]).toMatchObject({ mensaje_id: older.mensaje_id, message: "antes", late: true });
    } finally {
      await commit();
    }
  });
});

describe("the feed's second read", () => {
  it("is held like the first: a live message arriving during it waits, and both come in room order", async () => {
    const edge = await stack.startEdge();
    const proxy = await stack.proxy(edge);
    const ana = stack.client(edge.port, { auth: { user_id: "611" } });
    const pepe = stack.client(edge.port, { auth: { user_id: "613" } });
    const luis = stack.client(proxy.port, { auth: { user_id: "612" } });
    const received = collect(luis, "message");
    const receipts = collect(ana, "delivered");
    await Promise.all([online(ana), online(pepe), online(luis)]);
    await waitFor(() => luis.cursor !== undefined, 5000, "a feed cursor");
    await proxy.cut();

    const commit = await stack.openTransaction();
    let unlock: (() => Promise<void>) | undefined;
    try {
      // As above: the first read cannot see Ana's message, which Luis's phone confirmed.
      const phone = stack.client(edge.port, { auth: { user_id: "612" } });
      await online(phone);
      const older = await ana.send({ to: "612", type: "directo", message: "antes" });
      await waitFor(() => receipts.some((r) => r.mensaje_id === older.mensaje_id), 10_000, "the phone's confirmation");
      phone.close();
      // Another room's message, unconfirmed: its replay shows when the first read is over.
      await pepe.send({ to: "612", type: "directo", message: "hola" });
      await proxy.restore();
      await waitFor(() => received.length === 1, 10_000, "the first read to end");
      expect(received[0]!.message).toBe("hola");
      await commit();

      // The second read (two seconds later) waits on a locked table of the receipts feed...
      unlock = await stack.openTransaction("LOCK TABLE cambios_recibo_poda IN ACCESS EXCLUSIVE MODE");
      const blocked = async () =>
        (await stack.query("SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'cambios_recibo_poda' AND NOT l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"))[0]!["n"] as number;
      await waitFor(async () => (await blocked()) > 0, 10_000, "the second read to wait on the lock");
      // ...while a newer message of the room arrives live. A tablet of Luis's on the same edge
      // shows it has been delivered (it does not confirm, so nothing else changes).
      const tablet = stack.client(edge.port, { auth: { user_id: "612" }, autoMarkDelivered: false });
      const onTablet = collect(tablet, "message");
      await online(tablet);
      const newer = await ana.send({ to: "612", type: "directo", message: "después" });
      await waitFor(() => onTablet.some((m) => m.mensaje_id === newer.mensaje_id), 10_000, "the live delivery");
      expect(await blocked()).toBeGreaterThan(0);
      await unlock();

      // Released together, sorted: the older first, neither late.
      await waitFor(() => received.length >= 3, 10_000, "the second read and the live message");
      expect(received.slice(1).map((m) => [m.message, m.late])).toEqual([
        ["antes", undefined],
        ["después", undefined],
      ]);
    } finally {
      await unlock?.();
      await commit();
    }
  });
});
