import { readFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import type { NamedQuery, Recorded } from "./check.js";
import { shapeOf } from "./promql.js";

export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: (AlertingRule | RecordingRule)[];
}

export interface RulesFile {
  groups: RuleGroup[];
}

export const readRules = (path: string): RulesFile => parse(readFileSync(path, "utf8")) as RulesFile;

export const alertsOf = (rules: RulesFile): AlertingRule[] => rules.groups.flatMap((g) => g.rules.filter((r): r is AlertingRule => "alert" in r));

/** Every expression of the rules, named by its rule. */
export const ruleQueries = (rules: RulesFile): NamedQuery[] =>
  rules.groups.flatMap((g) => g.rules.map((r) => ({ where: "alert" in r ? `alert ${r.alert}` : `recording rule ${r.record}`, expr: String(r.expr) })));

/** The series the recording rules make, with the labels each keeps: its outermost `by` labels and its static labels. */
export function recordedSeries(rules: RulesFile): Recorded {
  const recorded: Recorded = new Map();
  for (const group of rules.groups) {
    for (const rule of group.rules) {
      if (!("record" in rule)) continue;
      const shape = shapeOf(rule.expr);
      const by = shape.groupings.filter((g) => g.clause === "by").flatMap((g) => g.labels);
      const labels = new Set([...by.filter((l) => l !== "le" || !/histogram_quantile/.test(rule.expr)), ...Object.keys(rule.labels ?? {})]);
      recorded.set(rule.record, labels);
    }
  }
  return recorded;
}

/**
 * The same rules as a Prometheus Operator PrometheusRule (monitoring.coreos.com/v1): its
 * spec.groups are the rules file's groups, unchanged.
 */
export function prometheusRuleYaml(rules: RulesFile, sourcePath: string): string {
  const object = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: {
      name: "redup-chat",
      labels: { "app.kubernetes.io/name": "redup-chat", "app.kubernetes.io/component": "monitoring" },
    },
    spec: { groups: rules.groups },
  };
  return `# Written by \`npm run write -w monitoring\` from ${sourcePath}: edit that file, not this one.\n# A test fails when the two differ.\n${stringify(object, { lineWidth: 0 })}`;
}
