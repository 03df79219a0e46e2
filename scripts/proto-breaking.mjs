#!/usr/bin/env node
// `buf breaking` over history: every commit since the baseline in proto/BREAKING_BASELINE that
// changed proto/ is checked against its parent (the FILE rules of proto/buf.yaml), then the
// working tree's proto/ against HEAD when it has uncommitted changes. Run from anywhere in
// the repository (npm run breaking -w proto; .ci/run). DEVELOPERS.md says why it works this way.
//
// A commit that breaks the contracts on purpose carries a `Proto-Breaking: <why>` trailer in
// its message; it is reported and not failed. Exit codes: 0 all compatible, 1 a breaking
// change, 2 the check could not run (no git history to compare with, a bad baseline).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BUF = createRequire(import.meta.url).resolve("@bufbuild/buf/bin/buf");
const git = (...args) => execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
const tryGit = (...args) => spawnSync("git", args, { encoding: "utf8" });
const say = (line) => process.stdout.write(`${line}\n`);

function stop(message) {
  process.stderr.write(`proto-breaking: ${message}\n`);
  process.exit(2);
}

const root = tryGit("rev-parse", "--show-toplevel");
if (root.status !== 0) stop("not in a git repository");
process.chdir(root.stdout.trim());

const baselineFile = "proto/BREAKING_BASELINE";
if (!existsSync(baselineFile)) stop(`${baselineFile} is missing`);
const baseline = readFileSync(baselineFile, "utf8")
  .split("\n")
  .map((l) => l.trim())
  .find((l) => l && !l.startsWith("#"));
if (!baseline || !/^[0-9a-f]{7,40}$/.test(baseline)) stop(`${baselineFile} names no commit`);
if (tryGit("cat-file", "-e", `${baseline}^{commit}`).status !== 0) {
  const shallow = git("rev-parse", "--is-shallow-repository") === "true";
  stop(`the baseline ${baseline} is not in this clone${shallow ? " (a shallow clone: fetch the history, e.g. git fetch --unshallow)" : ""}`);
}
if (tryGit("merge-base", "--is-ancestor", baseline, "HEAD").status !== 0) stop(`the baseline ${baseline} is not an ancestor of HEAD`);

const work = mkdtempSync(join(tmpdir(), "proto-breaking-"));
/** proto/ as it was at `rev`, unpacked into a folder of its own; undefined when it had none. */
function protoAt(rev) {
  if (tryGit("cat-file", "-e", `${rev}:proto`).status !== 0) return undefined;
  const dir = join(work, rev.replace(/[^0-9a-zA-Z]/g, "_"));
  execFileSync("sh", ["-c", `mkdir -p "$1" && git archive "$2" proto | tar -x -C "$1"`, "sh", dir, rev]);
  return join(dir, "proto");
}

/** buf breaking of `input` against `against`; the failures as buf prints them. */
function breaking(input, against) {
  const r = spawnSync(BUF, ["breaking", input, "--against", against, "--error-format", "text"], { encoding: "utf8" });
  if (r.error) stop(`cannot run buf: ${r.error.message}`);
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim().replaceAll(`${input}/`, "proto/") };
}

let failed = 0;
try {
  const commits = git("rev-list", "--reverse", "--full-history", "--no-merges", `${baseline}..HEAD`, "--", "proto")
    .split("\n")
    .filter(Boolean);
  for (const commit of commits) {
    const subject = git("log", "-1", "--format=%h %s", commit);
    const parent = protoAt(`${commit}^`);
    if (!parent) {
      say(`ok    ${subject} (proto/ is new)`);
      continue;
    }
    const result = breaking(protoAt(commit), parent);
    if (result.ok) {
      say(`ok    ${subject}`);
      continue;
    }
    const allowed = git("log", "-1", "--format=%(trailers:key=Proto-Breaking,valueonly)", commit).trim();
    if (allowed) {
      say(`ok    ${subject} (breaking on purpose: ${allowed})\n${indent(result.out)}`);
      continue;
    }
    failed++;
    say(`FAIL  ${subject} breaks what its parent's proto/ promised:\n${indent(result.out)}`);
  }
  if (git("status", "--porcelain", "--", "proto").split("\n").some((l) => l.trim() && !/\sproto\/gen\//.test(l))) {
    const result = breaking("proto", protoAt("HEAD"));
    if (result.ok) say("ok    working tree (uncommitted changes in proto/)");
    else {
      failed++;
      say(`FAIL  working tree: uncommitted changes in proto/ break HEAD's contracts:\n${indent(result.out)}`);
    }
  }
  say(`\n${commits.length} commit(s) since ${baseline.slice(0, 12)} changed proto/; ${failed ? `${failed} breaking` : "no breaking change"}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

function indent(text) {
  return text
    .split("\n")
    .map((l) => `      ${l}`)
    .join("\n");
}
