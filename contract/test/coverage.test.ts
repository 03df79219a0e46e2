/**
 * The kit covers exactly the RPCs the .proto files declare: one it has no check for fails
 * loudly as "not covered" (so a new RPC cannot slip through), and a check whose RPC is gone
 * fails as stale. The CLI is run compiled, as `npm run contract` runs it.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRpcs, plan, rpcChecks } from "../src/index.js";

const HERE = fileURLToPath(new URL("..", import.meta.url));
const PROTOS = fileURLToPath(new URL("../../proto", import.meta.url));
const TSC = createRequire(import.meta.url).resolve("typescript/bin/tsc");

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: HERE, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

/** A loopback port nobody listens on. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

let withExtra: string;

beforeAll(async () => {
  const build = await run([TSC, "-p", "tsconfig.build.json"]);
  expect(build.code, build.out + build.err).toBe(0);
  // The repo's protos with one more RPC in RoomsService.
  withExtra = mkdtempSync(join(tmpdir(), "redup-contract-protos-"));
  cpSync(PROTOS, withExtra, { recursive: true, filter: (src) => !/[/\\](node_modules|gen|dist)$/.test(src) });
  const rooms = join(withExtra, "redup/rooms/v1/rooms.proto");
  const text = readFileSync(rooms, "utf8");
  writeFileSync(rooms, text.replace("service RoomsService {", "service RoomsService {\n  rpc Extra(GetRoomRequest) returns (GetRoomResponse);"));
}, 120_000);

afterAll(() => rmSync(withExtra, { recursive: true, force: true }));

describe("coverage", () => {
  it("has a check for every RPC of the repo's protos, and none for an RPC they lack", () => {
    const rpcs = loadRpcs(PROTOS);
    expect(rpcs.length).toBeGreaterThanOrEqual(30);
    const { planned, stale } = plan(rpcs);
    expect(planned.filter((p) => !p.check).map((p) => p.rpc.name)).toEqual([]);
    expect(stale).toEqual([]);
    expect(planned.find((p) => p.rpc.name === "redup.rooms.v1.RoomsService/GetRoom")?.where).toEqual(["rooms"]);
    expect(planned.find((p) => p.rpc.name === "grpc.health.v1.Health/Check")?.where).toEqual(["rooms", "messages", "delivery"]);
  });

  it("reports an RPC without a check as not covered, and a check without an RPC as stale", () => {
    const { planned } = plan(loadRpcs(withExtra));
    expect(planned.filter((p) => !p.check).map((p) => p.rpc.name)).toEqual(["redup.rooms.v1.RoomsService/Extra"]);
    const { stale } = plan(loadRpcs(PROTOS), { ...rpcChecks, "redup.rooms.v1.RoomsService/Gone": async () => {} });
    expect(stale).toEqual(["redup.rooms.v1.RoomsService/Gone"]);
  });

  it("the CLI fails loudly on an uncovered RPC, with one line per check and the count", async () => {
    const nowhere = `127.0.0.1:${await closedPort()}`;
    const result = await run(["dist/cli.js", "--protos", withExtra, "--rooms", nowhere, "--messages", nowhere, "--delivery", nowhere, "--timeout-ms", "2000"]);
    expect(result.code).toBe(1);
    const lines = result.out.trim().split("\n");
    expect(lines).toContain("FAIL  -         redup.rooms.v1.RoomsService/Extra — not covered: the protos declare this RPC and the kit has no check for it (add one in contract/src/checks) (0 ms)");
    // Nothing answers there: every other check fails too, each on its own line, with the reason.
    expect(lines.filter((l) => /^FAIL\s+rooms\s+redup\.rooms\.v1\.RoomsService\/GetRoom — .*UNAVAILABLE/.test(l))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(/^0 passed, \d+ failed, 5 skipped$/);
  });

  it("refuses bad usage with exit code 2", async () => {
    const missing = await run(["dist/cli.js", "--rooms", "127.0.0.1:1"]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("--messages is required");
    expect((await run(["dist/cli.js", "--nope"])).code).toBe(2);
  });
});
