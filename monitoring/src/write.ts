import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { renderedDashboard, renderedPrometheusRule } from "./index.js";
import { DASHBOARD_FILE, PROMETHEUS_RULE_FILE, ROOT } from "./paths.js";

// `npm run write -w monitoring`: writes the files deploy/monitoring/ ships that are made from code.
for (const [file, text] of [
  [DASHBOARD_FILE, renderedDashboard()],
  [PROMETHEUS_RULE_FILE, renderedPrometheusRule()],
] as const) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  process.stdout.write(`wrote ${relative(ROOT, file)}\n`);
}
