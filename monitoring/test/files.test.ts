/**
 * The files deploy/monitoring ships: the dashboard and the PrometheusRule are what the code
 * makes (run `npm run write -w monitoring` after changing dashboard.ts or the rules); the
 * rules pass `promtool check rules` and their unit tests (`promtool test rules`); every alert carries a severity, a summary, its threshold
 * and a runbook that exists in docs/operations.md; every panel reads the `datasource` variable.
 * That the queries name real metrics is checked against a running stack in
 * tests/test/monitoring.test.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  alertsOf,
  buildDashboard,
  dashboardQueries,
  DASHBOARD_FILE,
  OPERATIONS_DOC,
  PROMETHEUS_RULE_FILE,
  readRules,
  renderedDashboard,
  renderedPrometheusRule,
  ROOT,
  RULES_FILE,
  RULES_TEST_FILE,
  shapeOf,
} from "../src/index.js";

const stale = (file: string) => `${relative(ROOT, file)} is stale: run \`npm run write -w monitoring\` and commit it`;

describe("generated files", () => {
  it("the dashboard JSON is what dashboard.ts builds", () => {
    expect(readFileSync(DASHBOARD_FILE, "utf8"), stale(DASHBOARD_FILE)).toBe(renderedDashboard());
  });

  it("the PrometheusRule carries exactly the rules file's groups", () => {
    expect(readFileSync(PROMETHEUS_RULE_FILE, "utf8"), stale(PROMETHEUS_RULE_FILE)).toBe(renderedPrometheusRule());
    const object = parse(readFileSync(PROMETHEUS_RULE_FILE, "utf8"));
    expect(object.kind).toBe("PrometheusRule");
    expect(object.spec.groups).toEqual(readRules(RULES_FILE).groups);
  });
});

describe("the rules", () => {
  const rules = readRules(RULES_FILE);
  const alerts = alertsOf(rules);

  it("pass promtool check rules", (ctx) => {
    const version = spawnSync("promtool", ["--version"], { encoding: "utf8" });
    if (version.status !== 0) ctx.skip("promtool is not installed here (Debian: apt-get install prometheus); .ci/run installs it");
    const r = spawnSync("promtool", ["check", "rules", RULES_FILE], { encoding: "utf8", timeout: 30_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`SUCCESS: ${rules.groups.flatMap((g) => g.rules).length} rules found`));
  });

  it("pass their unit tests (promtool test rules): each alert fires past its threshold and its `for`, and not before", (ctx) => {
    if (spawnSync("promtool", ["--version"]).status !== 0) ctx.skip("promtool is not installed here (Debian: apt-get install prometheus); .ci/run installs it");
    const r = spawnSync("promtool", ["test", "rules", RULES_TEST_FILE], { cwd: dirname(RULES_TEST_FILE), encoding: "utf8", timeout: 60_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    // Every alert has a case.
    const tests = readFileSync(RULES_TEST_FILE, "utf8");
    for (const alert of alerts) expect(tests, `${alert.alert} has no unit test`).toContain(`alertname: ${alert.alert}`);
  });

  it("negative control: the unit tests fail when a threshold moves", (ctx) => {
    if (spawnSync("promtool", ["--version"]).status !== 0) ctx.skip("promtool is not installed here");
    const dir = mkdtempSync(join(tmpdir(), "redup-rules-"));
    try {
      const text = readFileSync(RULES_FILE, "utf8");
      const moved = text.replace("redup_edge_connected_sockets / redup_edge_max_connections > 0.8", "redup_edge_connected_sockets / redup_edge_max_connections > 0.95");
      expect(moved).not.toBe(text);
      writeFileSync(join(dir, basename(RULES_FILE)), moved);
      writeFileSync(join(dir, basename(RULES_TEST_FILE)), readFileSync(RULES_TEST_FILE, "utf8"));
      const r = spawnSync("promtool", ["test", "rules", basename(RULES_TEST_FILE)], { cwd: dir, encoding: "utf8", timeout: 60_000 });
      expect(r.status).not.toBe(0);
      expect(`${r.stdout}${r.stderr}`).toMatch(/RedupEdgeConnectionsNearCap/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("negative control: promtool refuses a rule that does not parse", (ctx) => {
    if (spawnSync("promtool", ["--version"]).status !== 0) ctx.skip("promtool is not installed here");
    const r = spawnSync("promtool", ["check", "rules"], {
      input: "groups:\n  - name: bad\n    rules:\n      - alert: Bad\n        expr: sum(rate(redup_serving[5m])\n",
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status).not.toBe(0);
  });

  it("cover what issue #16 asks of them", () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual(
      [
        "RedupAckLatencyHigh",
        "RedupDbPoolExhausted",
        "RedupEdgeConnectionsNearCap",
        "RedupEventLoopLag",
        "RedupFallbackAcks",
        "RedupNatsDisconnected",
        "RedupOutboxBacklogGrowing",
        "RedupServiceNotServing",
        "RedupTargetDown",
      ].sort(),
    );
  });

  it("every alert has a severity, a summary, its threshold and a runbook in docs/operations.md", () => {
    const doc = readFileSync(OPERATIONS_DOC, "utf8");
    // GitHub's anchors: the heading lower-cased, spaces to dashes, punctuation dropped.
    const anchors = new Set([...doc.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-")));
    for (const alert of alerts) {
      const a = alert.annotations ?? {};
      expect(["warning", "critical"], `${alert.alert}: severity`).toContain(alert.labels?.severity);
      expect(a.summary, `${alert.alert}: summary`).toBeTruthy();
      expect(a.threshold, `${alert.alert}: threshold`).toBeTruthy();
      expect(a.runbook_url, `${alert.alert}: runbook_url`).toMatch(/^docs\/operations\.md#[a-z0-9-]+$/);
      const anchor = a.runbook_url!.split("#")[1]!;
      expect(anchors.has(anchor), `${alert.alert}: docs/operations.md has no heading for #${anchor}`).toBe(true);
      // The runbook says what it means, how to confirm it and what to do.
      const section = doc.slice(doc.search(new RegExp(`^#+\\s+${alert.alert}\\s*$`, "m")));
      const rest = section.slice(section.indexOf("\n") + 1);
      const next = rest.search(/^#{1,3}\s/m);
      const body = next < 0 ? rest : rest.slice(0, next);
      for (const part of ["Means", "Confirm", "Do"]) expect(body, `${alert.alert}'s runbook: "${part}"`).toMatch(new RegExp(`\\*\\*${part}`));
      expect(alert.for, `${alert.alert}: for`).toMatch(/^\d+[smh]$/);
    }
  });
});

describe("the dashboard", () => {
  const dashboard = buildDashboard();

  it("has a datasource variable that every panel reads, and queries that parse", () => {
    const variables = dashboard.templating?.list ?? [];
    expect(variables.find((v) => v.name === "datasource")).toMatchObject({ type: "datasource", query: "prometheus" });
    const panels = (dashboard.panels ?? []).filter((p) => p.type !== "row") as { title?: string; datasource?: { uid?: string }; targets?: unknown[] }[];
    expect(panels.length).toBeGreaterThan(20);
    for (const panel of panels) {
      expect(panel.datasource?.uid, `panel "${panel.title}"`).toBe("${datasource}");
      expect(panel.targets?.length, `panel "${panel.title}" has no query`).toBeGreaterThan(0);
    }
    for (const { where, expr } of dashboardQueries(dashboard)) expect(() => shapeOf(expr), where).not.toThrow();
    expect(new Set(panels.map((p) => (p as { id?: number }).id)).size).toBe(panels.length);
  });

  it("covers what issue #16 asks of it", () => {
    const exprs = dashboardQueries(dashboard).map((q) => q.expr).join("\n");
    for (const metric of [
      "redup_edge_connected_sockets",
      "redup_edge_handshakes_total",
      "redup_edge_events_total",
      "redup_edge_nats_messages_received_total",
      "redup_edge_event_duration_seconds_bucket",
      "redup_rpc_duration_seconds_bucket",
      "redup_edge_service_call_duration_seconds_bucket",
      "redup_batch_size_bucket",
      "redup_edge_send_batch_size_sum",
      "redup_db_pool_connections",
      "redup_nats_publish_errors_total",
      "redup_edge_nats_subscriptions",
      "redup_edge_catch_up_waiting",
      "redup_nodejs_eventloop_lag_p99_seconds",
      "redup_edge_nodejs_eventloop_lag_p99_seconds",
      "redup_process_resident_memory_bytes",
      "redup_edge_process_resident_memory_bytes",
      "redup_outbox_backlog",
      "redup_edge_shed_total",
    ]) {
      expect(exprs, metric).toContain(metric);
    }
    expect(exprs).toMatch(/outcome=~"RATE_LIMITED\|OVERLOADED"/);
    expect(exprs).toMatch(/outcome="fallback"/);
  });
});
