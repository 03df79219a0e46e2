import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is monitoring/src/paths.ts, or monitoring/dist/paths.js). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** Where the operators' files live. */
export const MONITORING = join(ROOT, "deploy/monitoring");
/** The alert and recording rules, as Prometheus loads them (edited by hand). */
export const RULES_FILE = join(MONITORING, "prometheus/redup-chat.rules.yml");
/** The rules' unit tests (promtool test rules). */
export const RULES_TEST_FILE = join(MONITORING, "prometheus/redup-chat.rules.test.yml");
/** The Grafana dashboard, written from dashboard.ts by `npm run write -w monitoring`. */
export const DASHBOARD_FILE = join(MONITORING, "grafana/dashboards/redup-chat.json");
/** The rules as a Prometheus Operator PrometheusRule, written from RULES_FILE by the same command. */
export const PROMETHEUS_RULE_FILE = join(MONITORING, "kubernetes/prometheusrule.yaml");
/** The runbooks the alerts link to. */
export const OPERATIONS_DOC = join(ROOT, "docs/operations.md");
