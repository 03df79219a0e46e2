/**
 * scripts/check-tests.mjs (run by `npm run lint`): this repository's test files pass it, and
 * each rule fails on a file that breaks it — a test with no assertion, a declared skip without
 * a "// skipped:" comment, a ctx.skip without a note. Fixtures are written to a scratch
 * directory; the skip calls in them are spelled through `skip()` below so that this file
 * itself holds none.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("../../scripts/check-tests.mjs", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const run = (root: string) => spawnSync(process.execPath, [SCRIPT, root], { encoding: "utf8", timeout: 30_000 });
/** `receiver.kind`, e.g. skip("it", "skipIf") is it.skipIf. */
const skip = (receiver: string, kind: string) => [receiver, kind].join(".");

/** Runs the check on one fixture file and returns its exit code and complaints. */
function check(body: string) {
  const dir = mkdtempSync(join(tmpdir(), "redup-check-tests-"));
  try {
    writeFileSync(join(dir, "fixture.test.ts"), `import { expect, it } from "vitest";\n${body}\n`);
    const r = run(dir);
    return { status: r.status, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ASSERTS = `it("adds", () => { expect(1 + 1).toBe(2); });`;

describe("check-tests", () => {
  it("passes on this repository's test files", () => {
    const r = run(ROOT);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/check-tests: \d+ test files, each asserts, every skip says why/);
  });

  it("passes a file that asserts and explains its skips", () => {
    const body = [
      ASSERTS,
      `it("needs docker", (ctx) => { ${skip("ctx", "skip")}("docker is not installed here"); expect(1).toBe(1); });`,
      `it("needs kubectl", (ctx) => { const why = "no kubectl"; ${skip("ctx", "skip")}(why); });`,
      `it("two-argument form", (ctx) => { ${skip("ctx", "skip")}(process.env.CI === undefined, \`only in CI\`); });`,
      `// skipped: the feature is switched off in this build`,
      `${skip("it", "skip")}("later", () => {});`,
      `${skip("describe", "skipIf")}(process.platform === "win32")("posix only", () => {}); // skipped: needs /proc`,
    ].join("\n");
    const r = check(body);
    expect(r.status, r.stderr).toBe(0);
  });

  it("fails a file without an assertion, even one that names expect in a comment", () => {
    // The fixture's import line names expect too, without calling it.
    const r = check(`// expect(1).toBe(1) was here\nit("does nothing", () => {});`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("no assertion (expect or assert) in the file");
  });

  it("fails a declared skip, skipIf, runIf or todo without a // skipped: comment", () => {
    for (const [receiver, kind] of [["it", "skip"], ["describe", "skip"], ["test", "skipIf"], ["it", "runIf"], ["it", "todo"]] as const) {
      const r = check(`${ASSERTS}\n// a comment that is not a reason\n${skip(receiver, kind)}("x", () => {});`);
      expect(r.status, `${receiver}.${kind}`).toBe(1);
      expect(r.stderr).toContain(`line 4: ${receiver}.${kind} without a "// skipped: <why>" comment`);
    }
  });

  it("fails a skip from inside a test without a note", () => {
    for (const args of ["", `""`, "' '", "``", "true", "process.env.CI === undefined"]) {
      const r = check(`${ASSERTS}\nit("x", (ctx) => {\n  ${skip("ctx", "skip")}(${args});\n});`);
      const call = `${skip("ctx", "skip")}(${args})`;
      expect(r.status, call).toBe(1);
      expect(r.stderr).toContain(`line 4: ${call} without a note`);
    }
  });
});
