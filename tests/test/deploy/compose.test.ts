/**
 * deploy/docker-compose.yml and its load balancer, checked against the code without a
 * container engine: every service gets the variables its loadConfig needs, its port, a health
 * check and its dependencies; the service URLs name compose services that run the target; the
 * edges sit behind a sticky, websocket-passing balancer. `docker compose config` runs only where
 * `docker compose version` answers, and is reported as skipped elsewhere. Negative controls at
 * the end make sure the checks fail when something is missing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DASHBOARD_FILE, RULES_FILE } from "@redup/monitoring";
import { beforeAll, describe, expect, it } from "vitest";
import {
  byName,
  checkLoadsConfig,
  checkRequiredEnv,
  DEPLOY,
  EDGE_HTTP,
  loadLoaders,
  metricsPortOf,
  parseYaml,
  parseYamlFile,
  rel,
  ROOT,
  SERVICES,
  service,
  rulesJobPattern,
  URL_VARS,
  works,
  type AppService,
  type Env,
  type Obj,
} from "./shared.js";

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
// The monitoring profile: Prometheus and Grafana

/** A bind mount of a compose service: the host path (resolved from deploy/) and where it goes. */
function mountOf(svc: Obj, target: string): string | undefined {
  for (const volume of (svc.volumes ?? []).map(String)) {
    const [source, to] = volume.split(":");
    if (to === target && source?.startsWith("./")) return resolve(DEPLOY, source);
  }
  return undefined;
}

const inProfile = (compose: Obj, image: string) =>
  Object.entries(compose.services as Record<string, Obj>).filter(([, svc]) => isImage(svc, image) || isImage(svc, `prom/${image}`) || isImage(svc, `grafana/${image}`));

/**
 * Prometheus scrapes every replica of every service where it serves /metrics, under the job
 * names the rules expect, and loads the rules file; Grafana gets that Prometheus as its
 * datasource and the dashboard. Returns Prometheus's configuration.
 */
function checkMonitoringProfile(compose: Obj, prometheusConfig: Obj) {
  const services: Record<string, Obj> = compose.services;
  const proms = inProfile(compose, "prometheus");
  expect(proms.length, "compose: one Prometheus").toBe(1);
  const [promName, prom] = proms[0]!;
  expect(prom.profiles, `${promName}: profiles`).toEqual(["monitoring"]);
  const argv = composeCommand(prom);
  const configPath = argv.find((a) => a.startsWith("--config.file="))?.split("=")[1] ?? "/etc/prometheus/prometheus.yml";
  expect(mountOf(prom, configPath), `${promName}: mounts deploy/monitoring/prometheus/prometheus.yml at ${configPath}`).toBe(join(DEPLOY, "monitoring/prometheus/prometheus.yml"));
  // The rules file is mounted where rule_files looks.
  const rulesMount = (prom.volumes ?? []).map(String).find((v: string) => resolve(DEPLOY, v.split(":")[0]!) === RULES_FILE);
  expect(rulesMount, `${promName}: does not mount ${rel(RULES_FILE)}`).toBeTruthy();
  const rulesAt = rulesMount!.split(":")[1]!;
  const globs: string[] = prometheusConfig.rule_files ?? [];
  const globToRegExp = (glob: string) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
  expect(globs.some((g) => globToRegExp(g).test(rulesAt)), `prometheus.yml rule_files ${JSON.stringify(globs)} do not match ${rulesAt}`).toBe(true);
  // Every service, every replica, at its metrics port, as the job the rules expect.
  const jobPattern = rulesJobPattern();
  for (const s of SERVICES) {
    const [name, svc] = Object.entries(services).find(([, x]) => composeRuns(x) === s.name)!;
    const port = metricsPortOf(s, composeEnv(svc));
    expect(port, `compose service ${name}: ${s.name.toUpperCase()}_METRICS_PORT is not set: no GET /metrics`).toBeTruthy();
    const exposed = [...(svc.expose ?? []), ...(svc.ports ?? [])].map(String);
    expect(exposed.some((p) => p === String(port) || p.endsWith(`:${port}`)), `compose service ${name}: metrics port ${port} not exposed`).toBe(true);
    const jobs = (prometheusConfig.scrape_configs as Obj[]).filter((job) =>
      [...(job.dns_sd_configs ?? []), ...(job.static_configs ?? [])].some(
        (sd: Obj) => (sd.names ?? []).includes(name) || (sd.targets ?? []).some((t: string) => t.split(":")[0] === name),
      ),
    );
    expect(jobs.length, `prometheus.yml: no job scrapes ${name}`).toBe(1);
    const job = jobs[0]!;
    const sd = (job.dns_sd_configs ?? []).find((x: Obj) => (x.names ?? []).includes(name));
    // Every replica: DNS service discovery of the compose name (static targets would see one).
    expect(sd, `prometheus.yml job ${job.job_name}: ${name} has replicas; use dns_sd_configs`).toBeTruthy();
    expect(sd.type ?? "SRV", `prometheus.yml job ${job.job_name}: dns type`).toBe("A");
    expect(sd.port, `prometheus.yml job ${job.job_name}: port`).toBe(port);
    expect(job.metrics_path ?? "/metrics").toBe("/metrics");
    expect(job.job_name, `prometheus.yml job ${job.job_name} is not what the rules expect (${jobPattern})`).toMatch(jobPattern);
    expect(composeDependsOn(prom), `${promName}: depends_on ${name}`).toContain(name);
  }
  // Grafana: provisioned with that Prometheus and the dashboard.
  const grafanas = inProfile(compose, "grafana");
  expect(grafanas.length, "compose: one Grafana").toBe(1);
  const [grafanaName, grafana] = grafanas[0]!;
  expect(grafana.profiles, `${grafanaName}: profiles`).toEqual(["monitoring"]);
  const provisioning = mountOf(grafana, "/etc/grafana/provisioning");
  expect(provisioning, `${grafanaName}: mounts its provisioning from deploy/`).toBeTruthy();
  const datasources = readdirSync(join(provisioning!, "datasources")).flatMap((f) => parseYamlFile(join(provisioning!, "datasources", f))).flatMap((d: Obj) => d.datasources ?? []);
  const datasource = datasources.find((d: Obj) => d.type === "prometheus");
  expect(datasource, `${grafanaName}: no Prometheus datasource provisioned`).toBeTruthy();
  const url = new URL(datasource.url);
  expect(url.hostname, `${grafanaName}: datasource ${datasource.url}`).toBe(promName);
  expect(url.port, `${grafanaName}: datasource port`).toBe("9090");
  expect(composeDependsOn(grafana)).toContain(promName);
  const providers = readdirSync(join(provisioning!, "dashboards")).flatMap((f) => parseYamlFile(join(provisioning!, "dashboards", f))).flatMap((d: Obj) => d.providers ?? []);
  const dashboardsDir = providers.map((p: Obj) => p.options?.path).find(Boolean);
  expect(dashboardsDir, `${grafanaName}: no dashboard provider`).toBeTruthy();
  const mounted = mountOf(grafana, dashboardsDir);
  expect(mounted, `${grafanaName}: nothing mounted at the provider's path ${dashboardsDir}`).toBeTruthy();
  expect(existsSync(join(mounted!, "redup-chat.json")) && join(mounted!, "redup-chat.json") === DASHBOARD_FILE, `${grafanaName}: ${rel(DASHBOARD_FILE)} is not under ${dashboardsDir}`).toBe(true);
}

const PROMETHEUS_YML = join(DEPLOY, "monitoring/prometheus/prometheus.yml");

// =============================================================================================

beforeAll(loadLoaders);

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

  it("has a monitoring profile: Prometheus scraping every replica, with the rules; Grafana with the dashboard", () => {
    checkMonitoringProfile(compose(), parseYamlFile(PROMETHEUS_YML)[0]);
  });

  it("has a Prometheus configuration that promtool accepts, with the rules it loads", (ctx) => {
    if (!works("promtool", ["--version"])) ctx.skip("promtool is not installed here (Debian: apt-get install prometheus); .ci/run installs it");
    // The rules where the container has them: a copy whose rule_files name the file in deploy/.
    const dir = mkdtempSync(join(tmpdir(), "redup-prometheus-"));
    try {
      const config = parseYamlFile(PROMETHEUS_YML)[0];
      config.rule_files = [RULES_FILE];
      const file = join(dir, "prometheus.yml");
      writeFileSync(file, JSON.stringify(config));
      const r = spawnSync("promtool", ["check", "config", file], { encoding: "utf8", timeout: 30_000 });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is valid for docker compose (where docker compose runs)", (ctx) => {
    if (!works("docker", ["compose", "version"])) {
      ctx.skip("`docker compose version` does not answer here (no compose v2): `docker compose config -q` not run; the checks above did run");
    }
    const r = spawnSync("docker", ["compose", "-f", COMPOSE_FILE, "config", "-q"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
  });
});

describe("negative controls: the checks fail when compose or its load balancer is wrong", () => {
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

  it("a Prometheus that misses a service, scrapes the wrong port or names the job otherwise; a service without its metrics port", () => {
    const prometheus = () => parseYamlFile(PROMETHEUS_YML)[0] as Obj;
    const jobOf = (config: Obj, name: string) => (config.scrape_configs as Obj[]).find((j) => j.job_name === name)!;
    expect(() => checkMonitoringProfile(compose(), prometheus())).not.toThrow();
    const noEdge = prometheus();
    noEdge.scrape_configs = noEdge.scrape_configs.filter((j: Obj) => j.job_name !== "redup-edge");
    expect(() => checkMonitoringProfile(compose(), noEdge)).toThrow(/no job scrapes edge/);
    const wrongPort = prometheus();
    jobOf(wrongPort, "redup-messages").dns_sd_configs[0].port = 50052;
    expect(() => checkMonitoringProfile(compose(), wrongPort)).toThrow(/redup-messages: port/);
    const renamed = prometheus();
    jobOf(renamed, "redup-rooms").job_name = "rooms";
    expect(() => checkMonitoringProfile(compose(), renamed)).toThrow(/is not what the rules expect/);
    const noMetrics = compose();
    delete composeRunning(noMetrics, "delivery").environment.DELIVERY_METRICS_PORT;
    expect(() => checkMonitoringProfile(noMetrics, prometheus())).toThrow(/DELIVERY_METRICS_PORT is not set/);
    const noRules = parseYaml(readFileSync(join(DEPLOY, "docker-compose.yml"), "utf8"), "compose")[0] as Obj;
    noRules.services.prometheus.volumes = noRules.services.prometheus.volumes.filter((v: string) => !v.includes("rules"));
    expect(() => checkMonitoringProfile(noRules, prometheus())).toThrow(/does not mount/);
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
