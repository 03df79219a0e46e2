/**
 * The fault harness in short (CI: FAULTS_SECONDS, default 35 s). The long run is
 * `npm run faults -w tests` (120 s by default); both print the figures.
 */
import { describe, expect, it } from "vitest";
import { formatFigures, runFaults } from "../faults/harness.js";

const SECONDS = Number(process.env["FAULTS_SECONDS"] ?? 35);

describe("faults", () => {
  it(
    "loses no ACKed message while every part fails in turn",
    async () => {
      const figures = await runFaults({ seconds: SECONDS, ratePerUser: 4, log: (line) => process.stdout.write(`${line}\n`) });
      process.stdout.write(`\n${formatFigures(figures)}\n`);
      expect(figures.faults).toHaveLength(6);
      expect(figures.ackedSaved).toBeGreaterThan(0);
      expect(figures.missingFromDb).toBe(0);
      expect(figures.lost).toBe(0);
      // No leak in the edge that lived through every fault: descriptors back near where they were.
      expect(figures.survivingEdge.after!.fds).toBeLessThan(figures.survivingEdge.before!.fds + 40);
    },
    (SECONDS + 180) * 1000,
  );
});
