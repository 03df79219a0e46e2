#!/usr/bin/env node
// `npm run faults -- --seconds 300` (from the root, which builds first; or `npm run faults -w
// tests -- --seconds 300`): the fault harness's long run. It is the same vitest test CI runs
// short (test/faults.test.ts), given its load window through FAULTS_SECONDS, so the long run
// asserts exactly what CI asserts and prints the same ledger. vitest takes no options of
// its own here, hence this wrapper. Options: --seconds N (default: FAULTS_SECONDS, else 120).
import { spawn } from "node:child_process";
import process from "node:process";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { seconds: { type: "string", default: process.env["FAULTS_SECONDS"] || "120" } } });
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 20) {
  process.stderr.write(`--seconds must be a whole number of seconds, at least 20 (got ${values.seconds})\n`);
  process.exit(2);
}
const child = spawn("npx", ["vitest", "run", "test/faults.test.ts"], { stdio: "inherit", env: { ...process.env, FAULTS_SECONDS: String(seconds) } });
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
