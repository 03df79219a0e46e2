/**
 * scripts/proto-breaking.mjs (npm run breaking -w proto; CI) on a scratch git repository
 * holding this repo's protos: each commit since the baseline that changed proto/ is checked
 * against its parent with the real buf, so a breaking change fails even once committed (as
 * on a clean clone of main after it landed); a Proto-Breaking trailer lets a deliberate one
 * through; uncommitted changes are checked against HEAD; a shallow clone is refused.
 */
import { execFile, execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("../../scripts/proto-breaking.mjs", import.meta.url));
const PROTOS = fileURLToPath(new URL("../../proto", import.meta.url));
const ROOMS = "proto/redup/rooms/v1/rooms.proto";

let repo: string;
const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8" }).trim();
const edit = (file: string, from: string, to: string) => {
  const text = readFileSync(join(repo, file), "utf8");
  expect(text).toContain(from);
  writeFileSync(join(repo, file), text.replace(from, to));
};
const commit = (message: string) => {
  git("add", "-A");
  git("commit", "-q", "-m", message);
  return git("rev-parse", "--short", "HEAD");
};

function check(cwd = repo): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT], { cwd, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), "redup-proto-breaking-"));
  git("init", "-q", "-b", "main");
  git("config", "user.email", "ci@example.com");
  git("config", "user.name", "CI");
  cpSync(PROTOS, join(repo, "proto"), { recursive: true, filter: (src) => !/[/\\](node_modules|gen|dist)$/.test(src) });
  rmSync(join(repo, "proto/BREAKING_BASELINE"));
  const first = commit("the contracts as they are");
  writeFileSync(join(repo, "proto/BREAKING_BASELINE"), `# checked from here on\n${git("rev-parse", first)}\n`);
  commit("record the baseline");
});

afterAll(() => rmSync(repo, { recursive: true, force: true }));

describe("buf breaking over the history of proto/", () => {
  it("passes compatible commits, each checked against its parent", async () => {
    edit(ROOMS, "message GetRoomRequest {", "message GetRoomRequest {\n  // Whether to include deleted rooms.\n  bool include_deleted = 2;");
    const added = commit("GetRoom: a new optional field");
    const result = await check();
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain(`ok    ${added} GetRoom: a new optional field`);
    expect(result.out).toMatch(/2 commit\(s\) since [0-9a-f]{12} changed proto\/; no breaking change/);
  });

  it("fails a committed breaking change, naming the commit and what broke", async () => {
    edit(ROOMS, "  int64 peer_id = 2;\n", "");
    const removed = commit("drop peer_id");
    const result = await check();
    expect(result.code).toBe(1);
    expect(result.out).toContain(`FAIL  ${removed} drop peer_id breaks what its parent's proto/ promised:`);
    expect(result.out).toMatch(/proto\/redup\/rooms\/v1\/rooms\.proto:\d+:\d+:.*"2" with name "peer_id"/);
    expect(result.out).toContain("1 breaking");
  });

  it("lets a deliberate break through with a Proto-Breaking trailer", async () => {
    git("commit", "-q", "--amend", "-m", "drop peer_id\n\nProto-Breaking: every caller moved to FindDirectRoom");
    const result = await check();
    expect(result.code, result.out).toBe(0);
    expect(result.out).toMatch(/ok {4}[0-9a-f]+ drop peer_id \(breaking on purpose: every caller moved to FindDirectRoom\)/);
  });

  it("checks uncommitted changes against HEAD", async () => {
    edit(ROOMS, "  int64 room_id = 1;\n}", "  int64 room_key = 1;\n}");
    const result = await check();
    expect(result.code).toBe(1);
    expect(result.out).toContain("FAIL  working tree: uncommitted changes in proto/ break HEAD's contracts:");
    git("checkout", "--", ".");
    expect((await check()).code).toBe(0);
  });

  it("refuses to pass silently without the history (a shallow clone)", async () => {
    const shallow = mkdtempSync(join(tmpdir(), "redup-proto-shallow-"));
    try {
      execFileSync("git", ["clone", "-q", "--depth", "1", `file://${repo}`, shallow]);
      const result = await check(shallow);
      expect(result.code).toBe(2);
      expect(result.out).toMatch(/not in this clone \(a shallow clone: fetch the history/);
    } finally {
      rmSync(shallow, { recursive: true, force: true });
    }
  });
});
