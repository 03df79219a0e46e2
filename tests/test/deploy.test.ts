/**
 * deploy/: the image, docker compose and the Kubernetes manifests, checked against the code
 * without a container engine, a cluster or the network.
 *
 * What each service must be given is read from the code (its config.ts, DEFAULT_PORTS, the
 * edge's routes), then every place that runs the service (compose, the kustomize base and the
 * production overlay) is checked to give it: the variables set, the ports and probes where the
 * code listens, the service URLs pointing at Services that really select the target pods, and
 * the result accepted by the service's own loadConfig. The negative controls at the end make
 * sure the checks fail when something is missing.
 *
 * Kubernetes manifests are built by a small kustomize subset here (resources, generators,
 * strategic-merge patches, replicas, images, namespace); when `kubectl` is installed, the real
 * `kubectl kustomize` output is checked the same way. `docker compose config` runs only where
 * `docker compose version` answers.
 */
import { execFile, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { createLogger, DEFAULT_PORTS, startConnectServer, type RunningServer } from "@redup/kit";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DEPLOY = join(ROOT, "deploy");
const K8S = join(DEPLOY, "kubernetes");
const rel = (path: string) => relative(ROOT, path);
const readText = (path: string) => readFileSync(resolve(ROOT, path), "utf8");

/** A note in the test output for a check that could not run here (no skip markers). */
const note = (message: string) => process.stderr.write(`[deploy.test] ${message}\n`);

type Env = Record<string, string>;
type Obj = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// YAML

function parseYaml(text: string, where: string): any[] {
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

const parseYamlFile = (path: string) => parseYaml(readFileSync(path, "utf8"), rel(path));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : walk(path);
    return [path];
  });
}

// ---------------------------------------------------------------------------------------------
// What the code needs

const rootPackage = JSON.parse(readText("package.json"));

/** Workspace folders, from the root package.json's globs ("services/*", "proto", ...). */
function workspaceDirs(): string[] {
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

interface AppService {
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

/** Workspaces that never ship in the image: the cross-service tests and the load generator. */
const DEV_ONLY_WORKSPACES = new Set(["tests", "bench"]);

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

const SERVICES: AppService[] = workspaceDirs()
  .filter((dir) => dir.startsWith("services/") && existsSync(join(ROOT, dir, "src/main.ts")))
  .map(describeService);
const byName = new Map(SERVICES.map((s) => [s.name, s]));
const service = (name: string) => {
  const found = byName.get(name);
  if (!found) throw new Error(`no service "${name}" in the workspace`);
  return found;
};
const EDGE_HTTP = readText("services/edge/src/http.ts");
/** Env var naming a service URL → the service it must reach. */
const URL_VARS = Object.fromEntries(SERVICES.filter((s) => s.grpc).map((s) => [`${s.name.toUpperCase()}_URL`, s.name]));

type LoadConfig = (env: Record<string, string | undefined>) => Record<string, unknown>;
const loaders = new Map<string, LoadConfig>();
async function loadLoaders() {
  for (const s of SERVICES) {
    // Only the service's config.ts (and @redup/kit), not the whole service.
    const mod = (await import(/* @vite-ignore */ pathToFileURL(join(ROOT, s.dir, "src/config.ts")).href)) as { loadConfig: LoadConfig };
    loaders.set(s.name, mod.loadConfig);
  }
}

/** The service's own loadConfig accepts the environment and nothing fell back to loopback. */
function checkLoadsConfig(s: AppService, env: Env, where: string) {
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

/** Checks every service has: required variables, production mode, its port, a bind address. */
function checkRequiredEnv(s: AppService, env: Env, where: string) {
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
// docker compose

const COMPOSE_FILE = join(DEPLOY, "docker-compose.yml");

/** Compose's interpolation with the defaults (`${VAR:-default}`, `${VAR-default}`, `$$`). */
function interpolate(value: string): string {
  return value
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?]([^}]*))?\}/g, (_m, _name: string, fallback?: string) => fallback ?? "")
    .replace(/\$\$/g, "$");
}

function composeEnv(svc: Obj): Env {
  const raw = svc.environment ?? {};
  const entries: [string, unknown][] = Array.isArray(raw)
    ? raw.map((line: string) => {
        const at = line.indexOf("=");
        return at < 0 ? [line, ""] : [line.slice(0, at), line.slice(at + 1)];
      })
    : Object.entries(raw);
  return Object.fromEntries(entries.map(([k, v]) => [k, v === null || v === undefined ? "" : interpolate(String(v))]));
}

const composeCommand = (svc: Obj): string[] =>
  Array.isArray(svc.command) ? svc.command.map(String) : typeof svc.command === "string" ? svc.command.split(/\s+/) : [];

/** The application service a compose service runs: its command, else SERVICE. */
function composeRuns(svc: Obj): string | undefined {
  const [first] = composeCommand(svc);
  if (first && byName.has(first)) return first;
  const named = composeEnv(svc).SERVICE;
  return named && byName.has(named) ? named : undefined;
}

const composeDependsOn = (svc: Obj): string[] =>
  Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});

const isImage = (svc: Obj, name: string) => typeof svc.image === "string" && new RegExp(`^(docker\\.io/)?(library/)?${name}[:@]`).test(svc.image);

function checkComposeService(compose: Obj, s: AppService) {
  const services: Record<string, Obj> = compose.services;
  const runners = Object.entries(services).filter(([, svc]) => composeRuns(svc) === s.name);
  expect(runners.length, `compose: no service runs ${s.name}`).toBeGreaterThan(0);
  const natsNames = Object.keys(services).filter((n) => isImage(services[n], "nats"));
  for (const [name, svc] of runners) {
    const where = `compose service ${name}`;
    const env = composeEnv(svc);
    checkRequiredEnv(s, env, where);
    // The image is the one deploy/Dockerfile builds.
    expect(svc.build?.dockerfile, `${where}: build.dockerfile`).toBe("deploy/Dockerfile");
    expect(resolve(DEPLOY, svc.build?.context ?? "."), `${where}: build.context`).toBe(ROOT);
    const exposed = [...(svc.expose ?? []), ...(svc.ports ?? [])].map(String);
    expect(exposed.some((p) => p === String(s.port) || p.endsWith(`:${s.port}`)), `${where}: port ${s.port} not exposed`).toBe(true);
    // Health check: grpc.health.v1 on the service's port, or the edge's HTTP routes.
    const test = (svc.healthcheck?.test ?? []).map(String);
    expect(svc.healthcheck?.disable, `${where}: health check disabled`).not.toBe(true);
    expect(test.join(" "), `${where}: health check`).toContain("healthcheck.mjs");
    const mode = test.slice(test.findIndex((t: string) => t.endsWith("healthcheck.mjs")) + 1);
    if (s.grpc) {
      expect(mode.slice(0, 2), `${where}: health check`).toEqual(["grpc", String(s.port)]);
    } else {
      expect(mode.slice(0, 2), `${where}: health check`).toEqual(["http", String(s.port)]);
      expect(["/healthz", "/readyz"], `${where}: health check path`).toContain(mode[2]);
      expect(EDGE_HTTP).toContain(`"${mode[2]}"`);
    }
    // Service URLs: a compose service running the target, on the target's port.
    for (const [variable, targetName] of Object.entries(URL_VARS)) {
      if (env[variable] === undefined) continue;
      const url = new URL(env[variable]);
      const target = services[url.hostname];
      expect(target, `${where}: ${variable} names "${url.hostname}", not a compose service`).toBeTruthy();
      expect(composeRuns(target), `${where}: ${variable} reaches ${url.hostname}, which does not run ${targetName}`).toBe(targetName);
      expect(url.protocol, `${where}: ${variable}`).toBe("http:");
      expect(url.port, `${where}: ${variable} port`).toBe(String(service(targetName).port));
      expect(composeDependsOn(svc), `${where}: depends_on ${url.hostname}`).toContain(url.hostname);
    }
    // NATS: every server of the cluster.
    if (env.NATS_URL !== undefined) {
      const urls = env.NATS_URL.split(",").map((u) => new URL(u.trim()));
      expect(urls.map((u) => u.hostname).sort(), `${where}: NATS_URL must list every NATS server`).toEqual([...natsNames].sort());
      for (const u of urls) expect(u.port, `${where}: NATS_URL port`).toBe("4222");
    }
    // The database: the compose PostgreSQL, with its credentials.
    if (env.DATABASE_URL !== undefined) {
      const url = new URL(env.DATABASE_URL);
      const db = services[url.hostname];
      expect(db && isImage(db, "postgres"), `${where}: DATABASE_URL host "${url.hostname}" is not the compose PostgreSQL`).toBe(true);
      const dbEnv = composeEnv(db);
      expect(decodeURIComponent(url.username), `${where}: DATABASE_URL user`).toBe(dbEnv.POSTGRES_USER ?? "postgres");
      expect(decodeURIComponent(url.password), `${where}: DATABASE_URL password`).toBe(dbEnv.POSTGRES_PASSWORD);
      expect(url.pathname, `${where}: DATABASE_URL database`).toBe(`/${dbEnv.POSTGRES_DB ?? dbEnv.POSTGRES_USER ?? "postgres"}`);
      expect(composeDependsOn(svc), `${where}: depends_on ${url.hostname}`).toContain(url.hostname);
    }
    checkLoadsConfig(s, env, where);
  }
}

// ---------------------------------------------------------------------------------------------
// Load balancer configuration

function checkLoadBalancer(kind: "haproxy" | "nginx", text: string, edge: { host: string; port: number }, where: string) {
  const config = text.replace(/#.*$/gm, "");
  if (kind === "haproxy") {
    // HTTP mode forwards Upgrade/Connection as is and tunnels after 101; nothing may strip them.
    expect(config, `${where}: not in HTTP mode`).toMatch(/^\s*mode\s+http\b/m);
    expect(config, `${where}: no "timeout tunnel" for websockets`).toMatch(/^\s*timeout\s+tunnel\s+\S+/m);
    expect(config, `${where}: strips the Upgrade or Connection header`).not.toMatch(/(del|set|replace)-header\s+(Upgrade|Connection)\b/i);
    expect(config, `${where}: not sticky (balance source, a cookie or a stick table)`).toMatch(
      /^\s*(balance\s+source\b|cookie\s+\S+\s+(insert|prefix|rewrite)\b|stick\s+on\b)/m,
    );
    expect(config, `${where}: no server reaches ${edge.host}:${edge.port}`).toMatch(
      new RegExp(`^\\s*server(-template)?\\s+.*\\b${edge.host}:${edge.port}\\b`, "m"),
    );
    const check = /^\s*option\s+httpchk\s+(?:GET\s+)?(\S+)/m.exec(config);
    expect(check?.[1], `${where}: no HTTP health check of the edges`).toBeTruthy();
    expect(EDGE_HTTP, `${where}: health check path ${check?.[1]} is not an edge route`).toContain(`"${check?.[1]}"`);
  } else {
    expect(config, `${where}: no Upgrade header`).toMatch(/proxy_set_header\s+Upgrade\s+\$http_upgrade\s*;/);
    expect(config, `${where}: no Connection header`).toMatch(/proxy_set_header\s+Connection\s+\S+\s*;/);
    expect(config, `${where}: websockets need HTTP/1.1 upstream`).toMatch(/proxy_http_version\s+1\.1\s*;/);
    expect(config, `${where}: not sticky (ip_hash, hash or sticky)`).toMatch(/^\s*(ip_hash|hash\s+\S+|sticky\b)/m);
    expect(config, `${where}: no upstream reaches ${edge.host}:${edge.port}`).toMatch(new RegExp(`server\\s+${edge.host}:${edge.port}\\b`));
  }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: a kustomize subset

function kustomizationFile(dir: string): string | undefined {
  return ["kustomization.yaml", "kustomization.yml", "Kustomization"].map((f) => join(dir, f)).find((f) => existsSync(f));
}

/** A generator's file, or its .example when the real one is git-ignored (credentials). */
function generatorFile(dir: string, file: string, where: string): string {
  const path = resolve(dir, file.includes("=") ? file.slice(file.indexOf("=") + 1) : file);
  if (existsSync(path)) return path;
  const gitignore = join(dirname(path), ".gitignore");
  const ignored =
    existsSync(gitignore) &&
    readFileSync(gitignore, "utf8")
      .split("\n")
      .map((l) => l.trim().replace(/^\//, ""))
      .includes(basename(path));
  if (ignored && existsSync(`${path}.example`)) return `${path}.example`;
  throw new Error(`${where}: ${file} does not exist (nor a git-ignored ${file} with ${file}.example beside it)`);
}

function parseEnvFile(text: string): Env {
  const env: Env = {};
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const at = trimmed.indexOf("=");
    if (at > 0) env[trimmed.slice(0, at)] = trimmed.slice(at + 1);
  }
  return env;
}

function generated(gen: Obj, dir: string, where: string): Env {
  const data: Env = {};
  for (const literal of gen.literals ?? []) {
    const at = String(literal).indexOf("=");
    data[String(literal).slice(0, at)] = String(literal).slice(at + 1);
  }
  for (const file of gen.envs ?? (gen.env ? [gen.env] : [])) {
    Object.assign(data, parseEnvFile(readFileSync(generatorFile(dir, file, where), "utf8")));
  }
  for (const file of gen.files ?? []) {
    const key = String(file).includes("=") ? String(file).slice(0, String(file).indexOf("=")) : basename(file);
    data[key] = readFileSync(generatorFile(dir, file, where), "utf8");
  }
  return data;
}

const isPlainObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Strategic merge as kustomize applies it to these manifests: lists of named items by name. */
function strategicMerge(target: any, patch: any): any {
  if (Array.isArray(patch)) {
    const named = (list: any[]) => list.every((item) => isPlainObject(item) && typeof item.name === "string");
    if (Array.isArray(target) && named(patch) && named(target)) {
      for (const item of patch) {
        const existing = target.find((t: Obj) => t.name === item.name);
        if (existing) strategicMerge(existing, item);
        else target.push(item);
      }
      return target;
    }
    return patch;
  }
  if (isPlainObject(patch) && isPlainObject(target)) {
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete target[key];
      else target[key] = key in target ? strategicMerge(target[key], value) : value;
    }
    return target;
  }
  return patch;
}

const podSpecOf = (obj: Obj): Obj | undefined =>
  obj.kind === "CronJob" ? obj.spec?.jobTemplate?.spec?.template?.spec : obj.spec?.template?.spec;

const containersOf = (obj: Obj): Obj[] => {
  const pod = podSpecOf(obj);
  return pod ? [...(pod.initContainers ?? []), ...(pod.containers ?? [])] : [];
};

const find = (objects: Obj[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name);

function kustomizeBuild(dir: string): Obj[] {
  const file = kustomizationFile(dir);
  if (!file) throw new Error(`${rel(dir)}: no kustomization.yaml`);
  const where = rel(file);
  const k: Obj = parseYamlFile(file)[0] ?? {};
  const objects: Obj[] = [];
  for (const entry of [...(k.resources ?? []), ...(k.bases ?? [])]) {
    const path = resolve(dir, entry);
    if (!existsSync(path)) throw new Error(`${where}: resource ${entry} does not exist`);
    objects.push(...(statSync(path).isDirectory() ? kustomizeBuild(path) : parseYamlFile(path)));
  }
  for (const [kind, list] of [
    ["ConfigMap", k.configMapGenerator],
    ["Secret", k.secretGenerator],
  ] as const) {
    for (const gen of list ?? []) {
      const data = generated(gen, dir, where);
      const existing = find(objects, kind, gen.name);
      const behavior = gen.behavior ?? "create";
      if (behavior === "create") {
        expect(existing, `${where}: ${kind} ${gen.name} generated twice`).toBeUndefined();
        objects.push(kind === "ConfigMap" ? { apiVersion: "v1", kind, metadata: { name: gen.name }, data } : { apiVersion: "v1", kind, metadata: { name: gen.name }, stringData: data });
      } else {
        expect(existing, `${where}: ${kind} ${gen.name} (behavior ${behavior}) has nothing to ${behavior}`).toBeTruthy();
        const current = kind === "ConfigMap" ? existing!.data : existing!.stringData;
        const next = behavior === "merge" ? { ...current, ...data } : data;
        if (kind === "ConfigMap") existing!.data = next;
        else existing!.stringData = next;
      }
    }
  }
  const patches: { docs: Obj[]; where: string }[] = [];
  for (const patch of k.patches ?? []) {
    if (patch.path) {
      const path = resolve(dir, patch.path);
      if (!existsSync(path)) throw new Error(`${where}: patch ${patch.path} does not exist`);
      patches.push({ docs: parseYamlFile(path), where: `${where} patch ${patch.path}` });
    } else if (patch.patch) {
      patches.push({ docs: parseYaml(patch.patch, `${where} inline patch`), where: `${where} inline patch` });
    }
  }
  for (const path of k.patchesStrategicMerge ?? []) {
    const full = resolve(dir, path);
    if (!existsSync(full)) throw new Error(`${where}: patch ${path} does not exist`);
    patches.push({ docs: parseYamlFile(full), where: `${where} patch ${path}` });
  }
  for (const { docs, where: patchWhere } of patches) {
    for (const doc of docs) {
      if (Array.isArray(doc)) throw new Error(`${patchWhere}: JSON 6902 patches are not supported by this test`);
      const target = find(objects, doc.kind, doc.metadata?.name);
      expect(target, `${patchWhere}: patches ${doc.kind} ${doc.metadata?.name}, which does not exist`).toBeTruthy();
      strategicMerge(target, doc);
    }
  }
  for (const r of k.replicas ?? []) {
    const target = objects.find((o) => ["Deployment", "StatefulSet", "ReplicaSet"].includes(o.kind) && o.metadata?.name === r.name);
    expect(target, `${where}: replicas for ${r.name}, which does not exist`).toBeTruthy();
    target!.spec.replicas = r.count;
  }
  for (const image of k.images ?? []) {
    for (const obj of objects) {
      for (const container of containersOf(obj)) {
        const [name, tag] = splitImage(container.image);
        if (name !== image.name) continue;
        const newName = image.newName ?? name;
        container.image = image.digest ? `${newName}@${image.digest}` : `${newName}${image.newTag ? `:${image.newTag}` : tag ? `:${tag}` : ""}`;
      }
    }
  }
  if (k.namespace) {
    for (const obj of objects) if (obj.kind !== "Namespace") (obj.metadata ??= {}).namespace = k.namespace;
  }
  return objects;
}

/** [name, tag] of an image reference (a registry port is not a tag). */
function splitImage(image: string): [string, string | undefined] {
  const at = image.indexOf("@");
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(":");
  return colon > ref.lastIndexOf("/") ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, undefined];
}

// ---------------------------------------------------------------------------------------------
// Kubernetes: checks on a built object list

const matches = (selector: Obj | undefined, labels: Obj | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function secretValues(secret: Obj): Env {
  const out: Env = { ...(secret.stringData ?? {}) };
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(String(v), "base64").toString("utf8");
  return out;
}

function podEnv(objects: Obj[], owner: Obj, container: Obj, where: string): Env {
  const env: Env = {};
  const configMap = (name: string) => {
    const cm = find(objects, "ConfigMap", name);
    expect(cm, `${where}: ConfigMap ${name} does not exist`).toBeTruthy();
    return Object.fromEntries(Object.entries(cm!.data ?? {}).map(([k, v]) => [k, String(v)]));
  };
  const secret = (name: string) => {
    const s = find(objects, "Secret", name);
    expect(s, `${where}: Secret ${name} does not exist`).toBeTruthy();
    return secretValues(s!);
  };
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? "";
    const values = from.configMapRef ? configMap(from.configMapRef.name) : from.secretRef ? secret(from.secretRef.name) : {};
    for (const [k, v] of Object.entries(values)) env[prefix + k] = v;
  }
  for (const e of container.env ?? []) {
    const ref = e.valueFrom;
    if (!ref) env[e.name] = String(e.value ?? "");
    else if (ref.configMapKeyRef) env[e.name] = configMap(ref.configMapKeyRef.name)[ref.configMapKeyRef.key];
    else if (ref.secretKeyRef) env[e.name] = secret(ref.secretKeyRef.name)[ref.secretKeyRef.key];
    else if (ref.fieldRef?.fieldPath === "metadata.name") env[e.name] = `${owner.metadata.name}-5d8f7c9b6-x2x8z`;
    else env[e.name] = "from-the-downward-api";
  }
  return env;
}

/** The container of a workload that runs `name` (its args/command, else SERVICE). */
function runsService(container: Obj): string | undefined {
  const argv = [...(container.command ?? []), ...(container.args ?? [])].map(String);
  const first = argv.find((a) => byName.has(a) || a === "migrate");
  if (first && first !== "migrate") return first;
  const named = (container.env ?? []).find((e: Obj) => e.name === "SERVICE")?.value;
  return argv.includes("migrate") ? undefined : named;
}

function resolvePort(container: Obj, port: number | string | undefined): number | undefined {
  if (typeof port === "number") return port;
  if (typeof port === "string" && /^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p: Obj) => p.name === port)?.containerPort;
}

function probePort(container: Obj, probe: Obj | undefined): number | undefined {
  if (!probe) return undefined;
  if (probe.grpc) return probe.grpc.port;
  return resolvePort(container, probe.httpGet?.port ?? probe.tcpSocket?.port);
}

function checkHardening(obj: Obj, where: string) {
  const pod = podSpecOf(obj)!;
  for (const c of containersOf(obj)) {
    const w = `${where} container ${c.name}`;
    expect(c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, `${w}: runAsNonRoot`).toBe(true);
    expect(c.securityContext?.readOnlyRootFilesystem, `${w}: readOnlyRootFilesystem`).toBe(true);
    expect(c.securityContext?.allowPrivilegeEscalation, `${w}: allowPrivilegeEscalation`).toBe(false);
    for (const part of ["requests", "limits"]) {
      for (const resource of ["cpu", "memory"]) {
        expect(c.resources?.[part]?.[resource], `${w}: resources.${part}.${resource}`).toBeTruthy();
      }
    }
  }
}

interface Placed {
  obj: Obj;
  container: Obj;
}

function placeService(objects: Obj[], s: AppService, where: string): Placed {
  const placed = objects
    .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")
    .flatMap((obj) => (podSpecOf(obj)?.containers ?? []).filter((c: Obj) => runsService(c) === s.name).map((container: Obj) => ({ obj, container })));
  expect(placed.length, `${where}: exactly one workload must run ${s.name}`).toBe(1);
  return placed[0];
}

/** The Service named by a URL's host, selecting the target's pods, on the target's port. */
function checkServiceUrl(objects: Obj[], url: URL, target: Placed, targetPort: number, where: string) {
  const name = url.hostname.split(".")[0];
  const svc = find(objects, "Service", name);
  expect(svc, `${where}: ${url.href} names Service "${name}", which does not exist`).toBeTruthy();
  expect(matches(svc!.spec?.selector, target.obj.spec?.template?.metadata?.labels), `${where}: Service ${name} does not select ${target.obj.metadata.name}`).toBe(true);
  const port = (svc!.spec?.ports ?? []).find((p: Obj) => p.port === Number(url.port));
  expect(port, `${where}: Service ${name} has no port ${url.port}`).toBeTruthy();
  expect(resolvePort(target.container, port.targetPort ?? port.port), `${where}: Service ${name} port ${url.port} does not reach ${targetPort}`).toBe(targetPort);
}

function checkNatsCluster(objects: Obj[], where: string): string[] {
  const sets = objects.filter((o) => o.kind === "StatefulSet" && containersOf(o).some((c) => /^(docker\.io\/)?(library\/)?nats[:@]/.test(c.image)));
  expect(sets.length, `${where}: one NATS StatefulSet`).toBe(1);
  const sts = sets[0];
  const replicas = sts.spec.replicas ?? 1;
  expect(replicas, `${where}: NATS replicas`).toBeGreaterThanOrEqual(3);
  const headless = find(objects, "Service", sts.spec.serviceName);
  expect(headless?.spec?.clusterIP, `${where}: NATS serviceName ${sts.spec.serviceName} must be a headless Service`).toBe("None");
  expect(matches(headless!.spec.selector, sts.spec.template.metadata.labels), `${where}: headless Service does not select NATS`).toBe(true);
  const hosts = Array.from({ length: replicas }, (_, i) => `${sts.metadata.name}-${i}.${headless!.metadata.name}`);
  const nats = containersOf(sts).find((c) => /nats[:@]/.test(c.image))!;
  const clusterPort = resolvePort(nats, "cluster") ?? 6222;
  // The config file mounted from a ConfigMap routes to every member.
  const conf = (podSpecOf(sts)!.volumes ?? [])
    .filter((v: Obj) => v.configMap)
    .flatMap((v: Obj) => Object.values(find(objects, "ConfigMap", v.configMap.name)?.data ?? {}))
    .map(String)
    .find((text: string) => /cluster\s*\{/.test(text));
  expect(conf, `${where}: no NATS config with a cluster block`).toBeTruthy();
  const cluster = conf!.slice(conf!.search(/cluster\s*\{/));
  const routes = [...cluster.matchAll(/nats:\/\/([A-Za-z0-9.-]+):(\d+)/g)];
  expect(routes.map((m) => m[1]).sort(), `${where}: NATS routes must name every member`).toEqual([...hosts].sort());
  for (const m of routes) expect(Number(m[2]), `${where}: NATS route port`).toBe(clusterPort);
  for (const probe of ["readinessProbe", "livenessProbe"]) {
    expect(nats[probe]?.httpGet?.path, `${where}: NATS ${probe}`).toBe("/healthz");
    expect(probePort(nats, nats[probe]), `${where}: NATS ${probe} port`).toBe(8222);
  }
  checkHardening(sts, `${where} StatefulSet ${sts.metadata.name}`);
  return hosts;
}

function checkKubernetes(objects: Obj[], where: string, production: boolean) {
  const natsHosts = checkNatsCluster(objects, where);
  const placedByName = new Map(SERVICES.map((s) => [s.name, placeService(objects, s, where)]));
  for (const s of SERVICES) {
    const { obj, container } = placedByName.get(s.name)!;
    const w = `${where} ${obj.kind} ${obj.metadata.name}`;
    const env = podEnv(objects, obj, container, w);
    checkRequiredEnv(s, env, w);
    expect((container.ports ?? []).map((p: Obj) => p.containerPort), `${w}: containerPort`).toContain(s.port);
    // Probes where the code answers.
    if (s.grpc) {
      expect(container.readinessProbe?.grpc?.port, `${w}: readinessProbe must be grpc on ${s.port}`).toBe(s.port);
      if (container.startupProbe) expect(container.startupProbe.grpc?.port, `${w}: startupProbe`).toBe(s.port);
      expect(container.livenessProbe?.grpc ?? container.livenessProbe?.tcpSocket, `${w}: livenessProbe must be grpc or tcpSocket`).toBeTruthy();
      expect(probePort(container, container.livenessProbe), `${w}: livenessProbe port`).toBe(s.port);
    } else {
      for (const [probe, path] of [
        ["readinessProbe", "/readyz"],
        ["livenessProbe", "/healthz"],
      ] as const) {
        expect(container[probe]?.httpGet?.path, `${w}: ${probe}`).toBe(path);
        expect(probePort(container, container[probe]), `${w}: ${probe} port`).toBe(s.port);
        expect(EDGE_HTTP, `${w}: ${path} is not an edge route`).toContain(`"${path}"`);
      }
    }
    checkHardening(obj, w);
    // Service URLs reach Services that select the target.
    for (const [variable, targetName] of Object.entries(URL_VARS)) {
      if (env[variable] === undefined) continue;
      checkServiceUrl(objects, new URL(env[variable]), placedByName.get(targetName)!, service(targetName).port, `${w} ${variable}`);
    }
    if (env.NATS_URL !== undefined) {
      const urls = env.NATS_URL.split(",").map((u) => new URL(u.trim()));
      const named = urls.map((u) => natsHosts.find((h) => u.hostname === h || u.hostname.startsWith(`${h}.`)) ?? u.hostname);
      expect(named.sort(), `${w}: NATS_URL must list every NATS server`).toEqual([...natsHosts].sort());
      for (const u of urls) expect(u.port, `${w}: NATS_URL port`).toBe("4222");
    }
    checkLoadsConfig(s, env, w);
    // A Service for it, and a PodDisruptionBudget.
    const labels = obj.spec.template.metadata.labels;
    expect(objects.some((o) => o.kind === "Service" && matches(o.spec?.selector, labels)), `${w}: no Service selects it`).toBe(true);
    expect(
      objects.some((o) => o.kind === "PodDisruptionBudget" && matches(o.spec?.selector?.matchLabels, labels)),
      `${w}: no PodDisruptionBudget`,
    ).toBe(true);
    if (production && s.grpc) expect(obj.spec.replicas ?? 1, `${w}: replicas`).toBeGreaterThanOrEqual(2);
    if (production) {
      const [, tag] = splitImage(container.image);
      expect(tag, `${w}: image ${container.image} must be pinned to a tag`).toBeTruthy();
      expect(tag, `${w}: image tag`).not.toBe("latest");
    }
    if (production && !s.grpc) expect(env.CORS_ALLOWED_ORIGINS, `${w}: CORS_ALLOWED_ORIGINS in production`).not.toBe("*");
  }
  // Every Deployment and StatefulSet has a PDB (also NATS).
  for (const o of objects.filter((x) => x.kind === "StatefulSet")) {
    expect(
      objects.some((p) => p.kind === "PodDisruptionBudget" && matches(p.spec?.selector?.matchLabels, o.spec.template.metadata.labels)),
      `${where}: StatefulSet ${o.metadata.name} has no PodDisruptionBudget`,
    ).toBe(true);
  }
  // The edge scales with an HPA.
  const edge = placedByName.get("edge")!.obj;
  const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler" && o.spec?.scaleTargetRef?.kind === edge.kind && o.spec?.scaleTargetRef?.name === edge.metadata.name);
  expect(hpa, `${where}: no HorizontalPodAutoscaler for the edge`).toBeTruthy();
  expect(hpa!.spec.minReplicas, `${where}: edge HPA minReplicas`).toBeGreaterThanOrEqual(2);
  expect(hpa!.spec.maxReplicas, `${where}: edge HPA maxReplicas`).toBeGreaterThanOrEqual(hpa!.spec.minReplicas);
  // A migration Job for every service with migrations.
  for (const s of SERVICES.filter((x) => x.migrates)) {
    const jobs = objects.filter((o) => o.kind === "Job" && containersOf(o).some((c) => {
      const argv = [...(c.command ?? []), ...(c.args ?? [])].map(String);
      const at = argv.indexOf("migrate");
      return at >= 0 && argv[at + 1] === s.name;
    }));
    expect(jobs.length, `${where}: no migration Job runs "migrate ${s.name}"`).toBe(1);
    const job = jobs[0];
    const container = containersOf(job).find((c) => [...(c.args ?? []), ...(c.command ?? [])].includes("migrate"))!;
    const w = `${where} Job ${job.metadata.name}`;
    const env = podEnv(objects, job, container, w);
    expect(env.DATABASE_URL?.trim(), `${w}: DATABASE_URL`).toBeTruthy();
    expect(env.NODE_ENV, `${w}: NODE_ENV`).toBe("production");
    expect(podSpecOf(job)!.restartPolicy, `${w}: restartPolicy`).toMatch(/^(Never|OnFailure)$/);
    expect(container.image, `${w}: image`).toBe(placedByName.get(s.name)!.container.image);
    checkHardening(job, w);
    checkLoadsConfig(s, env, w);
  }
  // The Ingress, if any, reaches the edge, sticky.
  for (const ingress of objects.filter((o) => o.kind === "Ingress")) {
    const w = `${where} Ingress ${ingress.metadata.name}`;
    for (const rule of ingress.spec.rules ?? []) {
      for (const path of rule.http?.paths ?? []) {
        const backend = path.backend.service;
        const svc = find(objects, "Service", backend.name);
        expect(matches(svc?.spec?.selector, edge.spec.template.metadata.labels), `${w}: backend ${backend.name} is not the edge`).toBe(true);
        const port = (svc!.spec.ports ?? []).find((p: Obj) => (backend.port.name ? p.name === backend.port.name : p.port === backend.port.number));
        expect(resolvePort(placedByName.get("edge")!.container, port?.targetPort ?? port?.port), `${w}: backend port`).toBe(service("edge").port);
      }
    }
    const annotations = ingress.metadata.annotations ?? {};
    expect(
      annotations["nginx.ingress.kubernetes.io/affinity"] === "cookie" || "nginx.ingress.kubernetes.io/upstream-hash-by" in annotations,
      `${w}: not sticky (cookie affinity or upstream-hash-by)`,
    ).toBe(true);
  }
  if (production) {
    for (const o of objects.filter((x) => x.kind !== "Namespace")) {
      expect(o.metadata?.namespace, `${where}: ${o.kind} ${o.metadata?.name} has no namespace`).toBeTruthy();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tools that may or may not be here

const works = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  return r.status === 0;
};

function runNode(args: string[], env: Env): Promise<{ code: number; out: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, args, { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolvePromise({ code, out: `${stdout}${stderr}` });
    });
  });
}

// =============================================================================================

beforeAll(loadLoaders);

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

describe("YAML under deploy/", () => {
  const files = walk(DEPLOY).filter((f) => /\.ya?ml$/.test(f));

  it("has compose, a kustomize base and a production overlay", () => {
    expect(files.map(rel)).toEqual(
      expect.arrayContaining([
        "deploy/docker-compose.yml",
        "deploy/kubernetes/base/kustomization.yaml",
        "deploy/kubernetes/overlays/production/kustomization.yaml",
      ]),
    );
  });

  it("parses, every document of every file", () => {
    for (const file of files) {
      const docs = parseYamlFile(file);
      expect(docs.length, `${rel(file)} is empty`).toBeGreaterThan(0);
      for (const doc of docs) expect(isPlainObject(doc), `${rel(file)}: a document is not a mapping`).toBe(true);
    }
  });

  it("has apiVersion, kind and metadata.name on every Kubernetes object", () => {
    for (const file of files.filter((f) => f.startsWith(K8S) && !kustomizationFile(dirname(f))?.endsWith(basename(f)))) {
      for (const doc of parseYamlFile(file)) {
        expect(doc.apiVersion && doc.kind && doc.metadata?.name, `${rel(file)}: ${JSON.stringify(doc).slice(0, 80)}`).toBeTruthy();
      }
    }
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

  it("puts every workspace's build (but the dev-only tests and bench), the entrypoint and the health check into the runtime image", () => {
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

describe("deploy/docker-compose.yml", () => {
  const compose = () => parseYamlFile(COMPOSE_FILE)[0] as Obj;

  for (const s of SERVICES) {
    it(`gives ${s.name} its variables, port, health check and dependencies`, () => {
      checkComposeService(compose(), s);
    });
  }

  it("runs two or more edges", () => {
    const edges = Object.values(compose().services as Record<string, Obj>).filter((svc) => composeRuns(svc) === "edge");
    const replicas = edges.reduce((sum, svc) => sum + (svc.deploy?.replicas ?? 1), 0);
    expect(replicas).toBeGreaterThanOrEqual(2);
  });

  it("runs PostgreSQL 15 and a three-node NATS cluster routed to each other", () => {
    const services: Record<string, Obj> = compose().services;
    const pg = Object.values(services).filter((svc) => isImage(svc, "postgres"));
    expect(pg.length).toBe(1);
    expect(pg[0].image).toMatch(/^postgres:15/);
    const nats = Object.entries(services).filter(([, svc]) => isImage(svc, "nats"));
    expect(nats.length).toBe(3);
    const names = nats.map(([n]) => n).sort();
    for (const [name, svc] of nats) {
      const argv = composeCommand(svc);
      const routes = argv[argv.indexOf("--routes") + 1] ?? "";
      expect(argv, `${name}: --routes`).toContain("--routes");
      expect(routes.split(",").map((r) => new URL(r).hostname).sort(), `${name}: routes to every server`).toEqual(names);
      expect(argv, `${name}: --cluster`).toContain("--cluster");
      expect(argv[argv.indexOf("--cluster_name") + 1], `${name}: cluster name`).toBe(composeCommand(nats[0][1])[composeCommand(nats[0][1]).indexOf("--cluster_name") + 1]);
    }
  });

  it("has a health check on every long-running container; one-shots only migrate", () => {
    for (const [name, svc] of Object.entries(compose().services as Record<string, Obj>)) {
      if (svc.restart === "no") {
        expect(composeCommand(svc)[0], `${name}: a one-shot service must be a migration`).toBe("migrate");
        expect(composeEnv(svc).DATABASE_URL, `${name}: DATABASE_URL`).toBeTruthy();
        for (const other of Object.values(compose().services as Record<string, Obj>)) {
          if (composeRuns(other) && service(composeRuns(other)!).migrates) {
            expect(svc === other || (other.depends_on?.[name]?.condition === "service_completed_successfully"), `${composeRuns(other)} must wait for ${name}`).toBe(true);
          }
        }
        continue;
      }
      const test = svc.healthcheck?.test;
      expect(svc.healthcheck?.disable !== true && Array.isArray(test) && test.length > 1, `${name}: no health check`).toBe(true);
    }
  });

  it("puts a load balancer in front of the edges that passes websockets and is sticky", () => {
    const services: Record<string, Obj> = compose().services;
    const lbs = Object.entries(services).filter(([, svc]) => isImage(svc, "haproxy") || isImage(svc, "nginx"));
    expect(lbs.length).toBe(1);
    const [name, lb] = lbs[0];
    expect(lb.ports?.length, `${name}: publishes a port`).toBeGreaterThan(0);
    const mounts = (lb.volumes ?? []).map(String).filter((v: string) => v.startsWith("./"));
    expect(mounts.length, `${name}: mounts its configuration from deploy/`).toBeGreaterThan(0);
    const file = resolve(DEPLOY, mounts[0].split(":")[0]);
    expect(existsSync(file), `${rel(file)} exists`).toBe(true);
    const edgeName = Object.keys(services).find((n) => composeRuns(services[n]) === "edge")!;
    expect(composeDependsOn(lb)).toContain(edgeName);
    checkLoadBalancer(isImage(lb, "haproxy") ? "haproxy" : "nginx", readFileSync(file, "utf8"), { host: edgeName, port: service("edge").port }, rel(file));
  });

  it("is valid for docker compose (where docker compose runs)", () => {
    if (!works("docker", ["compose", "version"])) {
      note("`docker compose version` does not answer here: `docker compose config -q` not run (the rest of the compose checks did run)");
      return;
    }
    const r = spawnSync("docker", ["compose", "-f", COMPOSE_FILE, "config", "-q"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
  });
});

describe("Kubernetes (kustomize)", () => {
  const kustomizations = walk(K8S).filter((f) => /^(kustomization\.ya?ml|Kustomization)$/.test(basename(f)));

  it("lists only files that exist, and every manifest beside a kustomization is used", () => {
    expect(kustomizations.length).toBeGreaterThanOrEqual(2);
    for (const file of kustomizations) {
      const dir = dirname(file);
      const k: Obj = parseYamlFile(file)[0];
      const where = rel(file);
      const used = new Set<string>();
      for (const entry of k.resources ?? []) {
        const path = resolve(dir, entry);
        expect(existsSync(path), `${where}: resource ${entry} does not exist`).toBe(true);
        if (statSync(path).isDirectory()) expect(kustomizationFile(path), `${where}: ${entry} has no kustomization`).toBeTruthy();
        used.add(path);
      }
      for (const gen of [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])]) {
        for (const f of [...(gen.files ?? []), ...(gen.envs ?? [])]) used.add(generatorFile(dir, f, where));
      }
      for (const p of [...(k.patches ?? []).map((x: Obj) => x.path).filter(Boolean), ...(k.patchesStrategicMerge ?? [])]) {
        const path = resolve(dir, p);
        expect(existsSync(path), `${where}: patch ${p} does not exist`).toBe(true);
        used.add(path);
      }
      for (const manifest of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && join(dir, f) !== file)) {
        expect(used.has(join(dir, manifest)), `${where}: ${manifest} is not used by the kustomization`).toBe(true);
      }
    }
  });

  it("base: every service is configured, probed, hardened and reachable", () => {
    checkKubernetes(kustomizeBuild(join(K8S, "base")), "kubernetes/base", false);
  });

  it("production: pinned image, more replicas, a real CORS origin, and all of the above", () => {
    const objects = kustomizeBuild(join(K8S, "overlays/production"));
    checkKubernetes(objects, "kubernetes/overlays/production", true);
    const base = kustomizeBuild(join(K8S, "base"));
    // Resource bumps really apply.
    const cpu = (objs: Obj[], name: string) => find(objs, "Deployment", name)?.spec.template.spec.containers[0].resources.requests.cpu;
    expect(SERVICES.some((s) => cpu(objects, placeService(objects, s, "production").obj.metadata.name) !== cpu(base, placeService(base, s, "base").obj.metadata.name))).toBe(true);
  });

  if (works("kubectl", ["version", "--client"])) {
    describe("built by kubectl kustomize", () => {
      let copy: string;
      beforeAll(() => {
        // A copy with git-ignored credentials filled from their examples.
        copy = mkdtempSync(join(tmpdir(), "redup-kustomize-"));
        cpSync(K8S, copy, { recursive: true });
        for (const example of walk(copy).filter((f) => f.endsWith(".example"))) {
          const real = example.slice(0, -".example".length);
          if (!existsSync(real)) cpSync(example, real);
        }
      });
      afterAll(() => rmSync(copy, { recursive: true, force: true }));

      const build = (dir: string) => {
        const r = spawnSync("kubectl", ["kustomize", join(copy, dir)], { encoding: "utf8", timeout: 60_000 });
        expect(r.status, `kubectl kustomize ${dir}: ${r.stderr}`).toBe(0);
        return parseYaml(r.stdout, `kubectl kustomize ${dir}`);
      };

      it("base", () => checkKubernetes(build("base"), "kubectl kustomize base", false));
      it("production", () => checkKubernetes(build("overlays/production"), "kubectl kustomize overlays/production", true));
    });
  } else {
    it("built by kubectl kustomize (where kubectl is installed)", () => {
      note("kubectl is not installed here: the manifests were checked with this test's kustomize subset only");
    });
  }
});

describe("negative controls: the checks fail when deploy/ is wrong", () => {
  const compose = () => parseYamlFile(COMPOSE_FILE)[0] as Obj;
  const composeRunning = (c: Obj, name: string) => Object.values(c.services as Record<string, Obj>).find((svc) => composeRuns(svc) === name)!;

  it("a compose service without DATABASE_URL, or with NATS_URL missing a server", () => {
    const c = compose();
    delete composeRunning(c, "rooms").environment.DATABASE_URL;
    expect(() => checkComposeService(c, service("rooms"))).toThrow(/DATABASE_URL/);
    const d = compose();
    composeRunning(d, "delivery").environment.NATS_URL = "nats://nats-1:4222,nats://nats-2:4222";
    expect(() => checkComposeService(d, service("delivery"))).toThrow(/NATS_URL/);
    const e = compose();
    composeRunning(e, "messages").environment.ROOMS_URL = "http://rooms:50052";
    expect(() => checkComposeService(e, service("messages"))).toThrow(/ROOMS_URL port/);
  });

  it("a ConfigMap without a service URL, a probe on the wrong port, a Service that selects nothing", () => {
    const dropUrl = kustomizeBuild(join(K8S, "base"));
    for (const cm of dropUrl.filter((o) => o.kind === "ConfigMap")) delete cm.data.MESSAGES_URL;
    expect(() => checkKubernetes(dropUrl, "mutated", false)).toThrow(/MESSAGES_URL/);

    const wrongProbe = kustomizeBuild(join(K8S, "base"));
    placeService(wrongProbe, service("delivery"), "mutated").container.readinessProbe = { grpc: { port: 50051 } };
    expect(() => checkKubernetes(wrongProbe, "mutated", false)).toThrow(/readinessProbe/);

    const edgePath = kustomizeBuild(join(K8S, "base"));
    placeService(edgePath, service("edge"), "mutated").container.readinessProbe.httpGet.path = "/health";
    expect(() => checkKubernetes(edgePath, "mutated", false)).toThrow(/readinessProbe/);

    const lostService = kustomizeBuild(join(K8S, "base"));
    find(lostService, "Service", "rooms")!.spec.selector = { "app.kubernetes.io/name": "nobody" };
    expect(() => checkKubernetes(lostService, "mutated", false)).toThrow(/does not select|no Service/);

    const rootUser = kustomizeBuild(join(K8S, "base"));
    const placed = placeService(rootUser, service("messages"), "mutated");
    placed.obj.spec.template.spec.securityContext.runAsNonRoot = false;
    expect(() => checkKubernetes(rootUser, "mutated", false)).toThrow(/runAsNonRoot/);
  });

  it("a kustomization naming a file that does not exist", () => {
    const dir = mkdtempSync(join(tmpdir(), "redup-kustomization-"));
    try {
      writeFileSync(join(dir, "kustomization.yaml"), "resources:\n  - missing.yaml\n");
      expect(() => kustomizeBuild(dir)).toThrow(/missing\.yaml does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a load balancer that strips Upgrade, has no tunnel timeout, or is not sticky", () => {
    const file = join(DEPLOY, "haproxy.cfg");
    const good = readFileSync(file, "utf8");
    const edge = { host: "edge", port: service("edge").port };
    expect(() => checkLoadBalancer("haproxy", good, edge, "haproxy.cfg")).not.toThrow();
    expect(() => checkLoadBalancer("haproxy", good.replace(/^\s*timeout tunnel.*$/m, ""), edge, "x")).toThrow(/timeout tunnel/);
    expect(() => checkLoadBalancer("haproxy", good.replace(/^\s*balance source.*$/m, "  balance roundrobin"), edge, "x")).toThrow(/sticky/);
    expect(() => checkLoadBalancer("haproxy", `${good}\n  http-request del-header Upgrade\n`, edge, "x")).toThrow(/Upgrade/);
    const nginx = [
      "upstream edges {",
      "  ip_hash;",
      "  server edge:5000;",
      "}",
      "location / {",
      "  proxy_http_version 1.1;",
      "  proxy_set_header Upgrade $http_upgrade;",
      "  proxy_set_header Connection $connection_upgrade;",
      "}",
    ].join("\n");
    expect(() => checkLoadBalancer("nginx", nginx, edge, "nginx")).not.toThrow();
    expect(() => checkLoadBalancer("nginx", nginx.replace("ip_hash;", ""), edge, "nginx")).toThrow(/sticky/);
    expect(() => checkLoadBalancer("nginx", nginx.replace(/.*Upgrade \$http_upgrade;/, ""), edge, "nginx")).toThrow(/Upgrade/);
  });
});
