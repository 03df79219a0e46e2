import { relative } from "node:path";
import { buildDashboard } from "./dashboard.js";
import { RULES_FILE, ROOT } from "./paths.js";
import { prometheusRuleYaml, readRules } from "./rules.js";

export * from "./check.js";
export * from "./dashboard.js";
export * from "./exposition.js";
export * from "./paths.js";
export * from "./promql.js";
export * from "./rules.js";


/** The dashboard's JSON as deploy/monitoring ships it. */
export const renderedDashboard = (): string => `${JSON.stringify(buildDashboard(), null, 2)}\n`;

/** The PrometheusRule as deploy/monitoring ships it, from the rules file. */
export const renderedPrometheusRule = (): string => prometheusRuleYaml(readRules(RULES_FILE), relative(ROOT, RULES_FILE));
