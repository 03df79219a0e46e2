/**
 * deploy/Dockerfile and the scripts the image runs (docker-entrypoint.sh, healthcheck.mjs),
 * checked against the code without a container engine: the workspace as the image sees it,
 * the build and runtime stages, and the two scripts run for real (the entrypoint against
 * stand-in services, the health check against real servers).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, startConnectServer, type RunningServer } from "@redup/kit";
import { DEPLOY, DEV_ONLY_WORKSPACES, EDGE_HTTP, readText, ROOT, rootPackage, runNode, SERVICES, service, workspaceDirs, type Env } from "./shared.js";

describe("the workspace as deploy/ sees it", () => {
  it("finds the four services with their ports and required variables", () => {
    expect(SERVICES.map((s) => s.name).sort()).toEqual(["delivery", "edge", "messages", "rooms"]);
    expect(service("rooms")).toMatchObject({ grpc: true, port: 50051, portVar: "ROOMS_PORT", migrates: true });
    expect(service("messages")).toMatchObject({ grpc: true, port: 50052, portVar: "MESSAGES_PORT", migrates: true });
    expect(service("delivery")).toMatchObject({ grpc: true, port: 50053, portVar: "DELIVERY_PORT", migrates: true });
    expect(service("edge")).toMatchObject({ grpc: false, port: 5000, portVar: "PORT", migrates: false });
    expect(service("delivery").required).toEqual(expect.arrayContaining(["DATABASE_URL", "ROOMS_URL", "NATS_URL"]));
    expect(service("edge").required).toEqual(expect.arrayContaining(["ROOMS_URL", "MESSAGES_URL", "DELIVERY_URL", "NATS_URL", "PORT"]));
    expect(EDGE_HTTP).toContain('"/healthz"');
    expect(EDGE_HTTP).toContain('"/readyz"');
  });
});

describe("deploy/Dockerfile and the image scripts", () => {
  const dockerfile = readText("deploy/Dockerfile");
  // Instructions with their continuation lines joined, comments dropped.
  const instructions = dockerfile
    .replace(/^\s*#.*$/gm, "")
    .replace(/\\\r?\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const args = Object.fromEntries(
    instructions.filter((l) => /^ARG\s+\w+=/.test(l)).map((l) => {
      const [, name, value] = /^ARG\s+(\w+)=(\S+)/.exec(l)!;
      return [name, value.replace(/^"|"$/g, "")];
    }),
  );
  const expand = (text: string) => text.replace(/\$\{?(\w+)\}?/g, (m, name: string) => args[name] ?? m);
  const froms = instructions.filter((l) => /^FROM\s/i.test(l));
  const lastStage = instructions.slice(instructions.lastIndexOf(froms[froms.length - 1]));

  it("builds in one stage on node 20 and runs in a smaller one", () => {
    expect(froms.length, "multi-stage").toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(expand(from)).toMatch(/^FROM\s+(docker\.io\/)?(library\/)?node:20[.\d]*-(bookworm-slim|alpine[.\d]*)\b/);
    const build = instructions.join("\n");
    expect(build).toMatch(/npm ci\b/);
    expect(build).toMatch(/npm run build\b/);
    expect(build).toMatch(/npm prune --omit=dev|npm ci [^\n]*--omit=dev/);
    expect(lastStage.join("\n"), "the runtime stage builds nothing").not.toMatch(/npm (ci|install|run build)/);
  });

  it("installs the npm the repository pins (allowScripts needs npm 11)", () => {
    const pinned = /^npm@(\d+\.\d+\.\d+)$/.exec(rootPackage.packageManager ?? "")?.[1];
    const installed = /npm install (?:--global|-g) "?npm@([^"\s]+)"?/.exec(expand(instructions.join("\n")))?.[1];
    if (rootPackage.allowScripts || (pinned && Number(pinned.split(".")[0]) >= 11)) {
      expect(installed, "the build stage must install npm 11 (node:20 ships npm 10)").toBeTruthy();
      expect(Number(installed!.split(".")[0])).toBeGreaterThanOrEqual(11);
    }
    if (pinned) expect(installed, "the same npm as package.json's packageManager").toBe(pinned);
  });

  it("gives npm ci the package.json of every workspace", () => {
    const npmCi = instructions.findIndex((l) => /npm ci\b/.test(l));
    const before = instructions.slice(0, npmCi);
    const copied = before.filter((l) => /^COPY\s/.test(l)).join("\n");
    // Either one COPY per workspace, or a stage that gathers every package.json with find.
    const gather = before.find((l) => /find\s.*-name\s+package\.json/.test(l));
    const depth = (flag: string) => Number(new RegExp(`-${flag}\\s+(\\d+)`).exec(gather ?? "")?.[1]);
    for (const ws of workspaceDirs()) {
      const explicit = new RegExp(`\\s${ws}/package\\.json\\s`).test(copied);
      const levels = ws.split("/").length + 1;
      const found = !!gather && levels <= depth("maxdepth") && (Number.isNaN(depth("mindepth")) || levels >= depth("mindepth"));
      expect(explicit || found, `deploy/Dockerfile does not give npm ci ${ws}/package.json`).toBe(true);
    }
    if (gather) {
      const stage = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec([...before.slice(0, before.indexOf(gather))].reverse().find((l) => /^FROM\s/i.test(l)) ?? "")?.[1];
      expect(stage, "the package.json-gathering step must be in a named stage").toBeTruthy();
      expect(copied, `npm ci must run on the files of stage ${stage}`).toMatch(new RegExp(`^COPY\\s+--from=${stage}\\s`, "m"));
      expect(gather, "the lockfile goes with the manifests").toMatch(/package-lock\.json/);
    } else {
      expect(copied).toMatch(/package-lock\.json/);
    }
  });

  it("puts every workspace's build (but the dev-only ones), the entrypoint, the health check and docs/ into the runtime image", () => {
    const staging = instructions.find((l) => l.includes("/out") && l.includes("dist"));
    expect(staging, "no step gathers the runtime files").toBeTruthy();
    const list = /for\s+ws\s+in\s+([^;]+);/.exec(staging!)?.[1].trim().split(/\s+/) ?? [];
    const covered = new Set(
      list.flatMap((entry) =>
        entry.endsWith("/*")
          ? readdirSync(join(ROOT, entry.slice(0, -2))).map((name) => `${entry.slice(0, -2)}/${name}`)
          : [entry],
      ),
    );
    for (const ws of workspaceDirs().filter((w) => !DEV_ONLY_WORKSPACES.has(w))) {
      expect(covered.has(ws), `${ws} is not copied into the runtime image`).toBe(true);
    }
    for (const s of SERVICES) expect(covered.has(s.dir), `${s.name} is not copied into the image`).toBe(true);
    expect(staging).toContain("deploy/docker-entrypoint.sh");
    expect(staging).toContain("deploy/healthcheck.mjs");
    // The edge serves docs/ at /docs, from beside services/ (services/edge/src/docs.ts).
    expect(staging, "docs/ is not copied into the image").toMatch(/cp -a docs \/out\/docs\b/);
    expect(readText("services/edge/src/docs.ts")).toContain('new URL("../../../docs/", import.meta.url)');
  });

  it("runs as a numeric non-root user, through the entrypoint, with a health check", () => {
    const user = lastStage.filter((l) => /^USER\s/.test(l)).pop();
    expect(user, "no USER in the runtime stage").toBeTruthy();
    const [uid] = user!.split(/\s+/)[1].split(":");
    expect(uid, "USER must be numeric for runAsNonRoot").toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    const entrypoint = lastStage.find((l) => /^ENTRYPOINT\s/.test(l));
    expect(JSON.parse(entrypoint!.replace(/^ENTRYPOINT\s+/, ""))[0]).toMatch(/\/deploy\/docker-entrypoint\.sh$/);
    expect(lastStage.find((l) => /^HEALTHCHECK\s/.test(l))).toContain("healthcheck.mjs");
    const exposed = lastStage.filter((l) => /^EXPOSE\s/.test(l)).join(" ");
    for (const s of SERVICES) expect(exposed, `EXPOSE ${s.port}`).toMatch(new RegExp(`\\b${s.port}\\b`));
  });

  it("keeps installed and built files out of the build context", () => {
    const ignore = readText(".dockerignore").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    for (const entry of ["node_modules", "dist", ".turbo", ".git", "data", "coverage"]) {
      expect(ignore.some((l) => l.replace(/^\*\*\//, "").replace(/\/$/, "") === entry), `.dockerignore: ${entry}`).toBe(true);
    }
    if (ignore.some((l) => /^deploy(\/\*\*)?\/?$/.test(l))) {
      expect(ignore).toContain("!deploy/docker-entrypoint.sh");
      expect(ignore).toContain("!deploy/healthcheck.mjs");
    }
  });

  it("has an entrypoint naming every service's dist/main.js", () => {
    const path = join(DEPLOY, "docker-entrypoint.sh");
    const script = readFileSync(path, "utf8");
    expect(script.startsWith("#!/bin/sh")).toBe(true);
    expect(statSync(path).mode & 0o111, "docker-entrypoint.sh must be executable").not.toBe(0);
    for (const s of SERVICES) expect(script, `entrypoint: ${s.name}`).toContain(`services/${s.name}/dist/main.js`);
    expect(spawnSync("sh", ["-n", path]).status, "sh -n docker-entrypoint.sh").toBe(0);
  });

  describe("the entrypoint, run against stand-in services", () => {
    let app: string;
    const run = (argv: string[], env: Env = {}) => {
      const r = spawnSync("sh", [join(app, "deploy/docker-entrypoint.sh"), ...argv], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "", ...env },
        timeout: 20_000,
      });
      const lines = r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      return { status: r.status, lines, stderr: r.stderr };
    };

    beforeAll(() => {
      app = mkdtempSync(join(tmpdir(), "redup-entrypoint-"));
      mkdirSync(join(app, "deploy"));
      cpSync(join(DEPLOY, "docker-entrypoint.sh"), join(app, "deploy/docker-entrypoint.sh"));
      chmodSync(join(app, "deploy/docker-entrypoint.sh"), 0o755);
      for (const s of SERVICES) {
        mkdirSync(join(app, `services/${s.name}/dist`), { recursive: true });
        writeFileSync(
          join(app, `services/${s.name}/dist/main.js`),
          `console.log(JSON.stringify({ service: ${JSON.stringify(s.name)}, args: process.argv.slice(2), flags: process.execArgv, env: process.env.SERVICE ?? null }));\n`,
        );
      }
    });
    afterAll(() => rmSync(app, { recursive: true, force: true }));

    it("serves the service given as the command, or SERVICE", () => {
      for (const s of SERVICES) {
        const r = run([s.name]);
        expect(r.status, r.stderr).toBe(0);
        expect(r.lines).toEqual([{ service: s.name, args: [], flags: ["--enable-source-maps"], env: s.name }]);
        expect(run([], { SERVICE: s.name }).lines[0].service).toBe(s.name);
      }
    });

    it("migrates one service, or all with migrations in order, and refuses the rest", () => {
      const migrating = SERVICES.filter((s) => s.migrates);
      const all = run(["migrate", "all"]);
      expect(all.status, all.stderr).toBe(0);
      expect(all.lines.map((l) => l.service).sort()).toEqual(migrating.map((s) => s.name).sort());
      for (const line of all.lines) expect(line.args).toEqual(["migrate"]);
      for (const s of migrating) expect(run(["migrate", s.name]).lines).toEqual([expect.objectContaining({ service: s.name, args: ["migrate"] })]);
      for (const s of SERVICES.filter((x) => !x.migrates)) expect(run(["migrate", s.name]).status).not.toBe(0);
      expect(run([]).status, "no command and no SERVICE").not.toBe(0);
    });
  });

  describe("healthcheck.mjs against real servers", () => {
    const script = join(DEPLOY, "healthcheck.mjs");
    let ready = true;
    let grpc: RunningServer;
    let http: Server;
    let httpPort: number;

    beforeAll(async () => {
      grpc = await startConnectServer({
        routes: () => {},
        serviceNames: ["redup.test.v1.Test"],
        ready: async () => ready,
        logger: createLogger({ service: "deploy-test", level: "silent" }),
        host: "127.0.0.1",
        port: 0,
      });
      http = createServer((req, res) => {
        res.writeHead(req.url === "/healthz" ? 200 : 503).end();
      });
      await new Promise<void>((done) => http.listen(0, "127.0.0.1", done));
      httpPort = (http.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await grpc?.close();
      await new Promise((done) => http?.close(done));
    });

    it("knows the code's default ports", () => {
      const table = /const DEFAULT_PORTS = \{([^}]*)\}/.exec(readFileSync(script, "utf8"))?.[1] ?? "";
      const ports = Object.fromEntries([...table.matchAll(/(\w+):\s*(\d+)/g)].map((m) => [m[1], Number(m[2])]));
      expect(ports).toEqual(Object.fromEntries(SERVICES.map((s) => [s.name, s.port])));
    });

    it("passes on grpc.health.v1 SERVING, fails on NOT_SERVING and on no server", async () => {
      ready = true;
      expect((await runNode([script, "grpc", String(grpc.port)], {})).code).toBe(0);
      expect((await runNode([script], { SERVICE: "rooms", ROOMS_PORT: String(grpc.port) })).code).toBe(0);
      expect((await runNode([script, "grpc", String(grpc.port), "redup.test.v1.Test"], {})).code).toBe(0);
      expect((await runNode([script, "grpc", String(grpc.port), "no.such.Service"], {})).code).toBe(1);
      ready = false;
      const down = await runNode([script, "grpc", String(grpc.port)], {});
      expect(down.code, down.out).toBe(1);
      expect(down.out).toMatch(/not SERVING/);
      ready = true;
    });

    it("passes on HTTP 2xx, fails otherwise, and refuses bad usage", async () => {
      expect((await runNode([script, "http", String(httpPort), "/healthz"], {})).code).toBe(0);
      expect((await runNode([script], { SERVICE: "edge", PORT: String(httpPort) })).code).toBe(0);
      expect((await runNode([script, "http", String(httpPort), "/readyz"], {})).code).toBe(1);
      expect((await runNode([script, "bogus"], {})).code).toBe(2);
      expect((await runNode([script], { SERVICE: "nobody" })).code).toBe(2);
    });
  });
});
