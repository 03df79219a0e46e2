/**
 * The fault harness (tests/faults/harness.ts) in short: CI runs FAULTS_SECONDS (default 40 s)
 * of load with every fault inside it. The long run is `npm run faults -- --seconds 300`; both
 * print the ledger.
 */
import { describe, expect, it } from "vitest";
import { formatLedger, runFaults } from "../faults/harness.js";

const SECONDS = Number(process.env["FAULTS_SECONDS"] ?? 40);

/**
 * The ACK-saved floor of sends with a client_msg_id. Such a send never gets the unsaved
 * fallback (the edge could not tell it from the retry of a send stored after all); it is
 * retried with its key for about 40 s (10 attempts, pauses doubling to 5 s), longer than any
 * outage here: the longest is one restart, which on a loaded 2-core machine took up to 26 s.
 * So it ends unsaved only when all of its attempts meet outages; runs measured 1.000. 0.9
 * leaves room for a machine slower still and fails a run where keyed sends are lost to a
 * fault. The test also asserts that every keyed send that ended unsaved was answered during a
 * fault or just after it. Sends without a key (one attempt, the fallback's path) have neither:
 * their unsaved share is the time the store is away, plus any call slower than the edge's RPC
 * deadline (a 5-minute run saw the first two take 3.5 s on a loaded machine).
 */
const ACK_SAVED_FLOOR = 0.9;

describe("faults", () => {
  it(
    "loses no acknowledged message, edit or delete while every part fails in turn under load",
    async () => {
      const ledger = await runFaults({ seconds: SECONDS, ratePerUser: 4, log: (line) => process.stdout.write(`${line}\n`) });
      process.stdout.write(`\n${formatLedger(ledger)}\n`);

      // Every fault struck while senders were still starting new messages.
      expect(ledger.faults.map((f) => f.name)).toHaveLength(8);
      for (const fault of ledger.faults) {
        expect(fault.startedAt, fault.name).toBeGreaterThanOrEqual(ledger.window.firstSendAt);
        expect(fault.startedAt, fault.name).toBeLessThanOrEqual(ledger.window.lastSendAt);
      }

      // Every send is accounted for, and enough of the keyed ones were saved.
      for (const sends of [ledger.sends, ledger.unkeyed]) {
        const refused = Object.values(sends.refused).reduce((a, b) => a + b, 0);
        expect(sends.acked + sends.fallback + refused + sends.gaveUp).toBe(sends.attempted);
        expect(sends.attempted).toBeGreaterThan(0);
      }
      expect(ledger.sends.fallback).toBe(0);
      expect(ledger.sends.acked / ledger.sends.attempted).toBeGreaterThanOrEqual(ACK_SAVED_FLOOR);
      expect(ledger.unsavedOutsideFaults.keyed).toBe(0);

      expect(ledger.missingFromDb).toBe(0);
      expect(ledger.lost).toBe(0);
      expect(ledger.duplicatesAfterDedupe).toBe(0);
      expect(ledger.duplicatesInDb).toBe(0);

      // Edits and deletes happened, and none acknowledged was lost.
      expect(ledger.edits.acked).toBeGreaterThan(0);
      expect(ledger.deletes.acked).toBeGreaterThan(0);
      expect(ledger.editsMissingInDb).toBe(0);
      expect(ledger.deletesMissingInDb).toBe(0);
      expect(ledger.editsLost).toBe(0);
      expect(ledger.deletesLost).toBe(0);

      // No leak in the edge that lived through every fault: descriptors back near where they were.
      expect(ledger.survivingEdge.after!.fds).toBeLessThan(ledger.survivingEdge.before!.fds + 40);
    },
    // The load runs on past faults that overran it, then up to 30 s of quiescence, on a slow machine.
    (2 * SECONDS + 180) * 1000,
  );
});
