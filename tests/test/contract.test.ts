/**
 * The contract kit (`npm run contract`) against the stack CI starts: the three services with
 * a service token and an edge, all real, on free ports. The kit runs as the child process a
 * team's pipeline would run; every check must pass and every RPC the .proto files declare must
 * have been checked on the service that serves it (health and reflection on all three).
 */
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { loadRpcs } from "@redup/contract";
import { loadConfig as edgeConfig, startEdge, type EdgeServer } from "@redup/edge";
import { createLogger } from "@redup/kit";
import { coreTestEnv, createTestDatabase, withClient, type TestDatabase } from "@redup/kit/testing";
import { startCoreServices, type CoreServices } from "@redup/system";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSC = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const TOKEN = "contract-test-service-token-0123456789abcdef";
const JWT_SECRET = "contract-test-jwt-secret-0123456789abcdef";

/** An HS256 JWT for a user, as a client's auth server would issue it. */
function jwt(sub: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 600 })}`;
  return `${unsigned}.${createHmac("sha256", JWT_SECRET).update(unsigned).digest("base64url")}`;
}

let db: TestDatabase;
let core: CoreServices;
let edge: EdgeServer;

function run(file: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { cwd: ROOT, env: { PATH: process.env["PATH"] ?? "", ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, out: stdout, err: stderr });
    });
  });
}

beforeAll(async () => {
  // The CLI runs compiled, as `npm run contract` runs it.
  const build = await run(TSC, ["-p", "contract/tsconfig.build.json"]);
  expect(build.code, build.out + build.err).toBe(0);
  db = await createTestDatabase("contract");
  core = await startCoreServices(coreTestEnv(db.url, { SERVICE_TOKEN: TOKEN }), { logLevel: "silent" });
  edge = await startEdge(edgeConfig({ ...core.env, PORT: "0", GROUP_POLICY: "members" }), createLogger({ service: "edge", level: "silent" }));
}, 120_000);

afterAll(async () => {
  await edge?.close();
  await core?.close();
  await db?.drop();
});

describe("npm run contract against the stack CI starts", () => {
  it("checks every RPC on the service that serves it, and the edge; every check passes", async () => {
    const host = (url: string) => new URL(url).host;
    const args = ["--rooms", host(core.rooms.url), "--messages", host(core.messages.url), "--delivery", host(core.delivery.url), "--edge", edge.url, "--token", TOKEN];
    const result = await run("contract/dist/cli.js", args);
    const lines = result.out.trim().split("\n");
    const checks = lines.slice(0, -2);
    const failed = checks.filter((l) => !l.startsWith("ok  "));
    expect(failed, result.out + result.err).toEqual([]);
    expect(result.code, result.err).toBe(0);

    const ran = checks.map((l) => /^ok\s+(\S+)\s+(\S+)/.exec(l)!).map((m) => `${m[1]} ${m[2]}`);
    const expected = loadRpcs(fileURLToPath(new URL("../../proto", import.meta.url))).flatMap((rpc) => {
      const own = /^redup\.(rooms|messages|delivery)\.v1\./.exec(rpc.service)?.[1];
      return (own ? [own] : ["rooms", "messages", "delivery"]).map((where) => `${where} ${rpc.name}`);
    });
    expect(expected.length).toBeGreaterThanOrEqual(26 + 4 * 3);
    expect(ran.filter((r) => !r.startsWith("edge ") && r.includes("/"))).toEqual(expected);
    expect(ran.filter((r) => r.startsWith("edge ")).length).toBeGreaterThanOrEqual(5);
    expect(lines.at(-1)).toBe(`${checks.length} passed, 0 failed`);
  });

  it("acts as named users, with their JWTs, against an edge that requires them", async () => {
    const secured = await startEdge(edgeConfig({ ...core.env, PORT: "0", SECRET_KEY: JWT_SECRET, AUTH_REQUIRED: "true" }), createLogger({ service: "edge", level: "silent" }));
    try {
      const [a, b, c] = ["7001", "7002", "7003"];
      const host = (url: string) => new URL(url).host;
      const args = ["--rooms", host(core.rooms.url), "--messages", host(core.messages.url), "--delivery", host(core.delivery.url), "--token", TOKEN];
      const result = await run("contract/dist/cli.js", [...args, "--edge", secured.url, "--users", `${a},${b},${c}`, "--group", "7456", "--edge-tokens", `${jwt(a)},${jwt(b)}`]);
      expect(result.out.split("\n").filter((l) => l.startsWith("FAIL")), result.err).toEqual([]);
      expect(result.code).toBe(0);
      expect(result.out).toMatch(/^ok\s+edge\s+a handshake without user_id is refused/m);
      const rows = await withClient(db.url, async (client) => (await client.query("select distinct remitente_id::text as id from mensajes where remitente_id = any($1::bigint[])", [[a, b, c]])).rows);
      expect(rows.map((r: { id: string }) => r.id)).toEqual([a]);
    } finally {
      await secured.close();
    }
  });

  it("fails every service check without the service token, and says why", async () => {
    const host = (url: string) => new URL(url).host;
    const result = await run("contract/dist/cli.js", ["--rooms", host(core.rooms.url), "--messages", host(core.messages.url), "--delivery", host(core.delivery.url)]);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/^FAIL\s+rooms\s+redup\.rooms\.v1\.RoomsService\/GetRoom — .*UNAUTHENTICATED/m);
    // Health needs no token.
    expect(result.out).toMatch(/^ok\s+rooms\s+grpc\.health\.v1\.Health\/Check/m);
    expect(result.out).toMatch(/^skip\s+edge\s+/m);
    expect(result.out.trim().split("\n").at(-1)).toMatch(/^\d+ passed, [1-9]\d* failed, \d+ skipped$/);
  });
});
