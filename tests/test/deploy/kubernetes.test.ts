/**
 * deploy/kubernetes: the kustomize base and the production overlay, built by a small kustomize
 * subset here (resources, generators, strategic-merge patches, replicas, images, namespace) and
 * checked against the code: every service configured as its loadConfig needs, probed on the
 * ports it listens on, hardened, and reachable through Services that select its pods. Where
 * `kubectl` is installed, its own `kubectl kustomize` output is checked the same way; elsewhere
 * those two checks are reported as skipped. Negative controls at the end make sure the checks
 * fail when something is missing.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_FILE, readRules, RULES_FILE } from "@redup/monitoring";
import {
  byName,
  checkLoadsConfig,
  checkRequiredEnv,
  DEPLOY,
  EDGE_HTTP,
  isPlainObject,
  K8S,
  loadLoaders,
  metricsPortOf,
  MONITORING,
  parseYaml,
  parseYamlFile,
  rel,
  SERVICES,
  service,
  URL_VARS,
  rulesJobPattern,
  walk,
  works,
  type AppService,
  type Env,
  type Obj,
} from "./shared.js";

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
  // Components: their objects join this kustomization's (what they patch would be patched here).
  for (const entry of k.components ?? []) {
    const path = resolve(dir, entry);
    if (!existsSync(path)) throw new Error(`${where}: component ${entry} does not exist`);
    const component: Obj = parseYamlFile(kustomizationFile(path) ?? join(path, "kustomization.yaml"))[0] ?? {};
    expect(component.kind, `${where}: ${entry} is not a kustomize Component`).toBe("Component");
    expect(component.patches ?? component.patchesStrategicMerge, `${where}: patches in component ${entry} are not supported by this test`).toBeUndefined();
    objects.push(...kustomizeBuild(path));
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
        const metadata: Obj = { name: gen.name };
        if (gen.options?.labels) metadata.labels = { ...gen.options.labels };
        if (gen.options?.annotations) metadata.annotations = { ...gen.options.annotations };
        objects.push(kind === "ConfigMap" ? { apiVersion: "v1", kind, metadata, data } : { apiVersion: "v1", kind, metadata, stringData: data });
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
    // Metrics are served, on a named container port.
    const metricsPort = metricsPortOf(s, env);
    expect(metricsPort, `${w}: ${s.name.toUpperCase()}_METRICS_PORT is not set: no GET /metrics`).toBeTruthy();
    if (s.grpc) {
      expect(resolvePort(container, "metrics"), `${w}: container port "metrics" must be ${s.name.toUpperCase()}_METRICS_PORT`).toBe(metricsPort);
      expect(metricsPort, `${w}: metrics port`).not.toBe(s.port);
    }
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
// Monitoring: the component deploy/monitoring the production overlay includes

/**
 * Prometheus Operator objects and the ConfigMaps: every service's pods are scraped by one
 * PodMonitor on the port where the service serves /metrics, under the job name the rules
 * expect; the PrometheusRule and the rules ConfigMap are the rules file; the dashboard
 * ConfigMap carries the sidecar's label and the dashboard.
 */
function checkMonitoring(objects: Obj[], where: string) {
  const monitors = objects.filter((o) => o.kind === "PodMonitor");
  const jobPattern = rulesJobPattern();
  for (const s of SERVICES) {
    const { obj, container } = placeService(objects, s, where);
    const w = `${where} ${s.name}`;
    const labels = obj.spec.template.metadata.labels;
    const selecting = monitors.filter((m) => matches(m.spec?.selector?.matchLabels, labels));
    expect(selecting.length, `${w}: exactly one PodMonitor must select its pods`).toBe(1);
    const monitor = selecting[0]!;
    const endpoints: Obj[] = monitor.spec.podMetricsEndpoints ?? [];
    expect(endpoints.length, `${w}: PodMonitor ${monitor.metadata.name} endpoints`).toBe(1);
    const endpoint = endpoints[0]!;
    const env = podEnv(objects, obj, container, w);
    expect(resolvePort(container, endpoint.port), `${w}: PodMonitor ${monitor.metadata.name} scrapes port "${endpoint.port}", not where /metrics is served`).toBe(metricsPortOf(s, env));
    expect(endpoint.path ?? "/metrics", `${w}: metrics path`).toBe("/metrics");
    if (!s.grpc) expect(EDGE_HTTP).toContain('"/metrics"');
    // The job label: redup-<pod label>, which the rules' job pattern must accept.
    const relabel = (endpoint.relabelings ?? []).find((r: Obj) => r.targetLabel === "job");
    expect(relabel, `${w}: PodMonitor ${monitor.metadata.name} does not set the job label`).toBeTruthy();
    const source = String(relabel.sourceLabels?.[0] ?? "").replace(/^__meta_kubernetes_pod_label_/, "");
    const labelValue = Object.entries(labels).find(([k]) => k.replace(/[^a-zA-Z0-9]/g, "_") === source)?.[1];
    expect(labelValue, `${w}: job relabeling reads ${relabel.sourceLabels?.[0]}, which its pods do not have`).toBeTruthy();
    const job = String(relabel.replacement ?? "$1").replace("$1", String(labelValue));
    expect(job, `${w}: job "${job}" is not what the rules expect (${jobPattern})`).toMatch(jobPattern);
  }
  const rules = readRules(RULES_FILE);
  const promRules = objects.filter((o) => o.kind === "PrometheusRule");
  expect(promRules.length, `${where}: one PrometheusRule`).toBe(1);
  expect(promRules[0]!.spec.groups, `${where}: PrometheusRule groups differ from ${rel(RULES_FILE)}`).toEqual(rules.groups);
  const configMaps = objects.filter((o) => o.kind === "ConfigMap");
  const rulesMap = configMaps.find((o) => Object.values(o.data ?? {}).includes(readFileSync(RULES_FILE, "utf8")));
  expect(rulesMap, `${where}: no ConfigMap holds ${rel(RULES_FILE)}`).toBeTruthy();
  const dashboards = configMaps.filter((o) => o.metadata?.labels?.grafana_dashboard === "1");
  expect(dashboards.length, `${where}: one ConfigMap labelled grafana_dashboard: "1"`).toBe(1);
  const [json] = Object.values(dashboards[0]!.data ?? {}) as string[];
  expect(JSON.parse(json ?? "null"), `${where}: the dashboard ConfigMap does not hold ${rel(DASHBOARD_FILE)}`).toEqual(JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")));
}

// =============================================================================================

beforeAll(loadLoaders);

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

describe("Kubernetes (kustomize)", () => {
  const kustomizations = [...walk(K8S), join(MONITORING, "kustomization.yaml")].filter((f) => /^(kustomization\.ya?ml|Kustomization)$/.test(basename(f)));

  it("lists only files that exist, and every manifest beside a kustomization is used", () => {
    expect(kustomizations.length).toBeGreaterThanOrEqual(2);
    for (const file of kustomizations) {
      const dir = dirname(file);
      const k: Obj = parseYamlFile(file)[0];
      const where = rel(file);
      const used = new Set<string>();
      for (const entry of [...(k.resources ?? []), ...(k.components ?? [])]) {
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
    checkMonitoring(objects, "kubernetes/overlays/production");
    const base = kustomizeBuild(join(K8S, "base"));
    // Resource bumps really apply.
    const cpu = (objs: Obj[], name: string) => find(objs, "Deployment", name)?.spec.template.spec.containers[0].resources.requests.cpu;
    expect(SERVICES.some((s) => cpu(objects, placeService(objects, s, "production").obj.metadata.name) !== cpu(base, placeService(base, s, "base").obj.metadata.name))).toBe(true);
  });

  describe("built by kubectl kustomize", () => {
    const kubectl = works("kubectl", ["version", "--client"]);
    const why = "kubectl is not installed here: the manifests were checked with this file's kustomize subset only";
    let copy: string;
    beforeAll(() => {
      if (!kubectl) return;
      // A copy with git-ignored credentials filled from their examples.
      // All of deploy/: the production overlay includes ../../../monitoring.
      copy = mkdtempSync(join(tmpdir(), "redup-kustomize-"));
      cpSync(DEPLOY, copy, { recursive: true });
      for (const example of walk(copy).filter((f) => f.endsWith(".example"))) {
        const real = example.slice(0, -".example".length);
        if (!existsSync(real)) cpSync(example, real);
      }
    });
    afterAll(() => {
      if (copy) rmSync(copy, { recursive: true, force: true });
    });

    const build = (dir: string) => {
      const r = spawnSync("kubectl", ["kustomize", join(copy, "kubernetes", dir)], { encoding: "utf8", timeout: 60_000 });
      expect(r.status, `kubectl kustomize ${dir}: ${r.stderr}`).toBe(0);
      return parseYaml(r.stdout, `kubectl kustomize ${dir}`);
    };

    it("base", (ctx) => {
      if (!kubectl) ctx.skip(why);
      checkKubernetes(build("base"), "kubectl kustomize base", false);
    });
    it("production", (ctx) => {
      if (!kubectl) ctx.skip(why);
      const objects = build("overlays/production");
      checkKubernetes(objects, "kubectl kustomize overlays/production", true);
      checkMonitoring(objects, "kubectl kustomize overlays/production");
    });
  });
});

describe("negative controls: the checks fail when the Kubernetes manifests are wrong", () => {
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

  it("a metrics port the container does not name, a PodMonitor on the wrong port or job, rules that drifted", () => {
    const noPort = kustomizeBuild(join(K8S, "base"));
    const rooms = placeService(noPort, service("rooms"), "mutated").container;
    rooms.ports = rooms.ports.filter((p: Obj) => p.name !== "metrics");
    expect(() => checkKubernetes(noPort, "mutated", false)).toThrow(/container port "metrics"/);

    const noMetrics = kustomizeBuild(join(K8S, "base"));
    for (const cm of noMetrics.filter((o) => o.kind === "ConfigMap")) delete cm.data.DELIVERY_METRICS_PORT;
    expect(() => checkKubernetes(noMetrics, "mutated", false)).toThrow(/DELIVERY_METRICS_PORT is not set/);

    const production = () => kustomizeBuild(join(K8S, "overlays/production"));
    expect(() => checkMonitoring(production(), "production")).not.toThrow();
    const wrongPort = production();
    find(wrongPort, "PodMonitor", "redup-services")!.spec.podMetricsEndpoints[0].port = "grpc";
    expect(() => checkMonitoring(wrongPort, "mutated")).toThrow(/scrapes port "grpc"/);
    const wrongJob = production();
    find(wrongJob, "PodMonitor", "redup-edge")!.spec.podMetricsEndpoints[0].relabelings[0].replacement = "chat-$1";
    expect(() => checkMonitoring(wrongJob, "mutated")).toThrow(/job "chat-edge" is not what the rules expect/);
    const drifted = production();
    find(drifted, "PrometheusRule", "redup-chat")!.spec.groups[1].rules.pop();
    expect(() => checkMonitoring(drifted, "mutated")).toThrow(/PrometheusRule groups differ/);
    const unlabelled = production();
    delete find(unlabelled, "ConfigMap", "redup-grafana-dashboard")!.metadata.labels;
    expect(() => checkMonitoring(unlabelled, "mutated")).toThrow(/grafana_dashboard/);
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
});
