/**
 * What the deploy/ tests share: the repository as deploy/ sees it (the services, their ports and
 * the variables each must be given, read from the code), YAML parsing, the checks every place
 * that runs a service applies (required variables, the service's own loadConfig), and the tools
 * that may or may not be installed here. The tests are split by target: image.test.ts,
 * compose.test.ts, kubernetes.test.ts.
 */
import { execFile, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { expect } from "vitest";
import { parseAllDocuments } from "yaml";
import { DEFAULT_PORTS } from "@redup/kit";
import { alertsOf, readRules, RULES_FILE, shapeOf } from "@redup/monitoring";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const DEPLOY = join(ROOT, "deploy");
export const K8S = join(DEPLOY, "kubernetes");
export const rel = (path: string) => relative(ROOT, path);
export const readText = (path: string) => readFileSync(resolve(ROOT, path), "utf8");

export type Env = Record<string, string>;
export type Obj = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// YAML

export function parseYaml(text: string, where: string): any[] {
  const docs = parseAllDocuments(text, { merge: true });
  if (!Array.isArray(docs)) return [];
  const out: any[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join("; ")}`);
    const value = doc.toJS({ maxAliasCount: -1 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export const parseYamlFile = (path: string) => parseYaml(readFileSync(path, "utf8"), rel(path));

export function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : walk(path);
    return [path];
  });
}

// ---------------------------------------------------------------------------------------------
// What the code needs

export const rootPackage = JSON.parse(readText("package.json"));

/** Workspace folders, from the root package.json's globs ("services/*", "proto", ...). */
export function workspaceDirs(): string[] {
  return (rootPackage.workspaces as string[]).flatMap((pattern) => {
    if (pattern.endsWith("/*")) {
      const parent = pattern.slice(0, -2);
      return readdirSync(join(ROOT, parent))
        .map((name) => `${parent}/${name}`)
        .filter((dir) => existsSync(join(ROOT, dir, "package.json")));
    }
    return existsSync(join(ROOT, pattern, "package.json")) ? [pattern] : [];
  });
}

export interface AppService {
  name: string;
  dir: string;
  packageName: string;
  /** A Connect/gRPC service (grpc.health.v1), else the HTTP edge. */
  grpc: boolean;
  port: number;
  portVar: string;
  /** Has a `migrate` command (owns tables). */
  migrates: boolean;
  /** Variables without a usable production default: must be set wherever it runs. */
  required: string[];
}

/**
 * Workspaces that never ship in the image: the cross-service tests, the load generator and
 * the contract kit (run from a checkout against a deployment), and the monitoring code that
 * writes and checks deploy/monitoring.
 */
export const DEV_ONLY_WORKSPACES = new Set(["tests", "bench", "contract", "monitoring"]);

/** The least each service must be given, whatever its config.ts says. */
// SERVICE_TOKEN is required in production by every service (and sent by every caller); the
// edge needs a way to verify clients' JWTs: the deployments use SECRET_KEY (HS256).
const REQUIRED_FLOOR: Record<string, string[]> = {
  rooms: ["DATABASE_URL", "SERVICE_TOKEN"],
  messages: ["DATABASE_URL", "ROOMS_URL", "DELIVERY_URL", "SERVICE_TOKEN"],
  delivery: ["DATABASE_URL", "ROOMS_URL", "NATS_URL", "SERVICE_TOKEN"],
  edge: ["ROOMS_URL", "MESSAGES_URL", "DELIVERY_URL", "NATS_URL", "CORS_ALLOWED_ORIGINS", "SERVICE_TOKEN", "SECRET_KEY"],
};

/** URLs a config may read that are optional alternatives, not addresses it must be given. */
const OPTIONAL_URLS = new Set(["JWT_JWKS_URL"]);

function describeService(dir: string): AppService {
  const name = basename(dir);
  const pkg = JSON.parse(readText(`${dir}/package.json`));
  const source = readText(`${dir}/src/config.ts`);
  const defaults = DEFAULT_PORTS as Record<string, number>;
  let port: number;
  let portVar: string;
  if (name in defaults) {
    port = defaults[name];
    portVar = `${name.toUpperCase()}_PORT`;
  } else {
    // The edge: `PORT: port(5000)` in its config.ts.
    const match = /\bPORT:\s*port\((\d+)\)/.exec(source);
    if (!match) throw new Error(`${dir}/src/config.ts: no default port found`);
    port = Number(match[1]);
    portVar = "PORT";
  }
  const required = new Set(["NODE_ENV", "HOST", portVar, ...(REQUIRED_FLOOR[name] ?? [])]);
  // The shared reader takes DATABASE_URL (default: a local test database).
  if (source.includes("readBaseServiceConfig(")) required.add("DATABASE_URL");
  // Every *_URL the config reads defaults to 127.0.0.1, which is nobody in a container.
  for (const match of source.matchAll(/\.([A-Z][A-Z0-9_]*_URL)\b/g)) if (!OPTIONAL_URLS.has(match[1])) required.add(match[1]);
  if (source.includes("natsVars")) required.add("NATS_URL");
  if (source.includes("CORS_ALLOWED_ORIGINS")) required.add("CORS_ALLOWED_ORIGINS");
  return {
    name,
    dir,
    packageName: pkg.name,
    grpc: name in defaults,
    port,
    portVar,
    migrates: typeof pkg.scripts?.migrate === "string",
    required: [...required].sort(),
  };
}

export const SERVICES: AppService[] = workspaceDirs()
  .filter((dir) => dir.startsWith("services/") && existsSync(join(ROOT, dir, "src/main.ts")))
  .map(describeService);
export const byName = new Map(SERVICES.map((s) => [s.name, s]));
export const service = (name: string) => {
  const found = byName.get(name);
  if (!found) throw new Error(`no service "${name}" in the workspace`);
  return found;
};
export const EDGE_HTTP = readText("services/edge/src/http.ts");
/** Env var naming a service URL → the service it must reach. */
export const URL_VARS = Object.fromEntries(SERVICES.filter((s) => s.grpc).map((s) => [`${s.name.toUpperCase()}_URL`, s.name]));

type LoadConfig = (env: Record<string, string | undefined>) => Record<string, unknown>;
const loaders = new Map<string, LoadConfig>();
export async function loadLoaders() {
  for (const s of SERVICES) {
    // Only the service's config.ts (and @redup/kit), not the whole service.
    const mod = (await import(/* @vite-ignore */ pathToFileURL(join(ROOT, s.dir, "src/config.ts")).href)) as { loadConfig: LoadConfig };
    loaders.set(s.name, mod.loadConfig);
  }
}

/** The service's own loadConfig accepts the environment and nothing fell back to loopback. */
export function checkLoadsConfig(s: AppService, env: Env, where: string) {
  const loadConfig = loaders.get(s.name);
  if (!loadConfig) throw new Error(`loadConfig of ${s.name} not loaded`);
  let config: Record<string, unknown>;
  try {
    config = loadConfig({ ...env });
  } catch (err) {
    throw new Error(`${where}: ${s.name} refuses its configuration: ${(err as Error).message}`, { cause: err });
  }
  expect(config.env, `${where}: ${s.name} NODE_ENV`).toBe("production");
  expect(config.port, `${where}: ${s.name} port`).toBe(s.port);
  const addresses = ["databaseUrl", "roomsUrl", "messagesUrl", "deliveryUrl", "natsServers"]
    .filter((key) => key in config)
    .map((key) => `${key}=${JSON.stringify(config[key])}`);
  for (const address of addresses) {
    expect(address, `${where}: ${s.name} falls back to a loopback address`).not.toMatch(/127\.0\.0\.1|localhost|\[::1\]/);
  }
}

/**
 * Where a service serves GET /metrics with this environment, as its own loadConfig reads it:
 * a gRPC service on <SERVICE>_METRICS_PORT (undefined: not served), the edge on its own port.
 */
export function metricsPortOf(s: AppService, env: Env): number | undefined {
  if (!s.grpc) return s.port;
  const loadConfig = loaders.get(s.name);
  if (!loadConfig) throw new Error(`loadConfig of ${s.name} not loaded`);
  return loadConfig({ ...env }).metricsPort as number | undefined;
}

/** Checks every service has: required variables, production mode, its port, a bind address. */
export function checkRequiredEnv(s: AppService, env: Env, where: string) {
  for (const name of s.required) {
    expect(env[name]?.trim(), `${where}: ${s.name} needs ${name}, which is not set`).toBeTruthy();
  }
  expect(env.NODE_ENV, `${where}: ${s.name} NODE_ENV`).toBe("production");
  expect(env.HOST, `${where}: ${s.name} HOST`).toBe("0.0.0.0");
  expect(env[s.portVar], `${where}: ${s.name} ${s.portVar}`).toBe(String(s.port));
  if (env.DATABASE_URL !== undefined) {
    expect(new URL(env.DATABASE_URL).protocol, `${where}: ${s.name} DATABASE_URL`).toMatch(/^postgres(ql)?:$/);
  }
}

// ---------------------------------------------------------------------------------------------
// Tools that may or may not be here

export const works = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  return r.status === 0;
};

export function runNode(args: string[], env: Env): Promise<{ code: number; out: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, args, { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolvePromise({ code, out: `${stdout}${stderr}` });
    });
  });
}


export const isPlainObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);


// ---------------------------------------------------------------------------------------------
// Monitoring (deploy/monitoring)

export const MONITORING = join(DEPLOY, "monitoring");

/**
 * The job names the alert rules expect (RedupTargetDown's `up{job=~"…"}`): every place that
 * scrapes RedUP Chat must name its jobs so that each service's job matches.
 */
export function rulesJobPattern(): RegExp {
  const alert = alertsOf(readRules(RULES_FILE)).find((a) => a.alert === "RedupTargetDown");
  const matcher = shapeOf(alert!.expr).selectors.flatMap((sel) => sel.matchers).find((m) => m.name === "job");
  if (!matcher) throw new Error("RedupTargetDown has no job matcher");
  return new RegExp(`^(?:${matcher.value})$`);
}
