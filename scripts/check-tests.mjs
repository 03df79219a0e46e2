#!/usr/bin/env node
// Tests that cannot pass by accident (npm run lint; CI). Every test file (*.test.{ts,mts,js,mjs}
// outside node_modules, dist, gen) must
//   1. assert something: contain `expect(`, `expect.`, `assert(` or `assert.` in code (comment
//      lines do not count) — a file whose checks all vanished would otherwise pass green;
//   2. give a reason for every skip, so a skipped check is reported with why, never silent:
//      - a declared skip — `it|test|describe|suite` `.skip`, `.skipIf(…)`, `.runIf(…)`, `.todo` —
//        needs a `// skipped: <why>` comment on its line or the line directly above;
//      - a skip from inside a test — `ctx.skip(…)` (any receiver but the four above) — needs a
//        note: its last argument must be a non-empty string or template literal, or a variable
//        holding the message (an identifier other than true, false, undefined, null); or the
//        same `// skipped: <why>` comment.
// Lines that start as comments are not scanned for skips. Usage: node scripts/check-tests.mjs
// [root] (default: the repository this script is in). Exit 1 and a list when a file breaks a rule.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const SKIP_DIRS = new Set(["node_modules", "dist", "gen", ".git", ".turbo", "coverage"]);
const TEST_FILE = /\.test\.(ts|mts|cts|js|mjs)$/;
const DECLARERS = new Set(["it", "test", "describe", "suite"]);
const REASON_COMMENT = /\/\/\s*skipped:\s*\S/;
const COMMENT_LINE = /^\s*(\/\/|\/\*|\*)/;

function testFiles(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) found.push(...testFiles(join(dir, entry.name)));
    } else if (TEST_FILE.test(entry.name)) found.push(join(dir, entry.name));
  }
  return found;
}

/** The text of a call's arguments from just after its "(" to the matching ")", across lines; quotes respected. */
function argumentsText(text, open) {
  let depth = 1;
  let quote = "";
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = "";
    } else if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      depth--;
      if (depth === 0) return text.slice(open, i);
    }
  }
  return text.slice(open);
}

/** The last top-level argument of an argument list, trimmed ("" when there is none). */
function lastArgument(args) {
  let depth = 0;
  let quote = "";
  let start = 0;
  for (let i = 0; i < args.length; i++) {
    const c = args[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = "";
    } else if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) start = i + 1;
  }
  return args.slice(start).trim();
}

/** Whether an argument is a note: a non-empty string or template literal, or a variable holding one. */
export function isNote(arg) {
  if (/^(["'`])[\s\S]*\1$/.test(arg)) return arg.slice(1, -1).trim().length > 0;
  return /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(arg) && !["true", "false", "undefined", "null"].includes(arg);
}

/** The rule breaches of one test file's text, as "line N: what" strings ("" line for file-wide ones). */
export function checkTestFile(text) {
  const problems = [];
  const lines = text.split("\n");
  const code = lines.filter((l) => !COMMENT_LINE.test(l)).join("\n").replace(/\/\*[\s\S]*?\*\//g, "");
  if (!/\b(expect|assert)\s*[.(]/.test(code)) problems.push("no assertion (expect or assert) in the file");
  // Offsets of each line, to read a call's arguments across lines.
  const starts = [];
  let offset = 0;
  for (const l of lines) {
    starts.push(offset);
    offset += l.length + 1;
  }
  const commented = (i) => REASON_COMMENT.test(lines[i]) || (i > 0 && REASON_COMMENT.test(lines[i - 1]));
  lines.forEach((line, i) => {
    if (COMMENT_LINE.test(line)) return;
    for (const m of line.matchAll(/\b([A-Za-z_$][\w$]*)\s*\.\s*(skip|skipIf|runIf|todo)\b(\s*\()?/g)) {
      const [, receiver, kind, call] = m;
      if (DECLARERS.has(receiver)) {
        if (!commented(i)) problems.push(`line ${i + 1}: ${receiver}.${kind} without a "// skipped: <why>" comment on its line or the line above`);
      } else if (kind === "skip" && call) {
        const args = argumentsText(text, starts[i] + m.index + m[0].length);
        if (!isNote(lastArgument(args)) && !commented(i)) problems.push(`line ${i + 1}: ${receiver}.skip(${args.trim()}) without a note (a non-empty string, or a variable holding it)`);
      }
    }
  });
  return problems;
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const root = process.argv[2] ?? fileURLToPath(new URL("..", import.meta.url));
  const files = testFiles(root);
  let failures = 0;
  for (const file of files) {
    for (const problem of checkTestFile(readFileSync(file, "utf8"))) {
      failures++;
      process.stderr.write(`${relative(root, file)}: ${problem}\n`);
    }
  }
  if (files.length === 0) {
    process.stderr.write(`check-tests: no test files under ${root}\n`);
    process.exit(1);
  }
  if (failures > 0) {
    process.stderr.write(`check-tests: ${failures} problem(s) in ${files.length} test files (rules: scripts/check-tests.mjs)\n`);
    process.exit(1);
  }
  process.stdout.write(`check-tests: ${files.length} test files, each asserts, every skip says why\n`);
}
