import { seriesNamesOf, type Exposition } from "./exposition.js";
import { shapeOf, type Matcher, type Selector } from "./promql.js";

/** A query to check and where it comes from ("dashboard panel 'ACK p99'", "alert RedupNatsDisconnected"). */
export interface NamedQuery {
  where: string;
  expr: string;
}

/** Series Prometheus makes itself, with the labels they carry. */
export const PROMETHEUS_SERIES: Record<string, string[]> = {
  up: [],
  scrape_duration_seconds: [],
  scrape_samples_scraped: [],
  scrape_samples_post_metric_relabeling: [],
  scrape_series_added: [],
  ALERTS: ["alertname", "alertstate", "severity"],
  ALERTS_FOR_STATE: ["alertname", "severity"],
};

/** Labels Prometheus adds to every scraped series. */
export const TARGET_LABELS = ["job", "instance"];

/** What the running services export, merged from every scrape: each series name and the values of each of its labels. */
export interface Catalog {
  /** Series name → label name → values seen. */
  series: Map<string, Map<string, Set<string>>>;
  /** Series names declared (# TYPE) whose family had no sample in any scrape. */
  declaredOnly: Set<string>;
}

export function catalogOf(expositions: Exposition[]): Catalog {
  const series = new Map<string, Map<string, Set<string>>>();
  for (const { samples } of expositions) {
    for (const sample of samples) {
      let labels = series.get(sample.name);
      if (!labels) series.set(sample.name, (labels = new Map()));
      for (const [name, value] of Object.entries(sample.labels)) {
        let values = labels.get(name);
        if (!values) labels.set(name, (values = new Set()));
        values.add(value);
      }
    }
  }
  const declaredOnly = new Set<string>();
  for (const { types } of expositions) {
    for (const [family, type] of types) for (const name of seriesNamesOf(family, type)) if (!series.has(name)) declaredOnly.add(name);
  }
  return { series, declaredOnly };
}

/** Recording rules: the series they make, and the labels each keeps (its `by` labels, its static labels). */
export type Recorded = Map<string, Set<string>>;

const regexMatches = (pattern: string, value: string) => new RegExp(`^(?:${pattern})$`).test(value);
const hasGrafanaVariable = (value: string) => /\$\{?\w+/.test(value);

/**
 * Checks queries against what the services export: every metric a selector names is a series
 * some service exports (or a recording rule makes, or Prometheus makes itself); every label a
 * selector, `by`, `on`… names is a label of those series; every value an `=` matcher asks for
 * was seen (a `=~` matcher must match one). Returns one line per problem, naming the query.
 */
export function checkQueries(queries: NamedQuery[], catalog: Catalog, recorded: Recorded = new Map()): string[] {
  const problems: string[] = [];
  for (const { where, expr } of queries) {
    let shape;
    try {
      shape = shapeOf(expr);
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
      continue;
    }
    const made = new Set(shape.madeLabels);
    // Labels a selector's series may carry; undefined when unknown (a name regex).
    const labelsOf = (selector: Selector): Set<string> | undefined => {
      const name = selector.metric;
      if (name === undefined) return undefined;
      const exported = catalog.series.get(name);
      if (exported) return new Set([...exported.keys(), ...TARGET_LABELS]);
      const rec = recorded.get(name);
      if (rec) return new Set([...rec, ...TARGET_LABELS]);
      if (name in PROMETHEUS_SERIES) return new Set([...PROMETHEUS_SERIES[name]!, ...TARGET_LABELS]);
      return undefined;
    };
    for (const selector of shape.selectors) {
      const name = selector.metric;
      if (name === undefined) {
        const pattern = selector.matchers.find((m) => m.name === "__name__")?.value;
        if (pattern && ![...catalog.series.keys()].some((n) => regexMatches(pattern, n))) problems.push(`${where}: no exported metric matches __name__=~"${pattern}"`);
        continue;
      }
      if (!catalog.series.has(name) && !recorded.has(name) && !(name in PROMETHEUS_SERIES)) {
        problems.push(
          catalog.declaredOnly.has(name)
            ? `${where}: ${name} is declared but had no sample in any scrape, so its labels cannot be checked (drive it in the test)`
            : `${where}: no service exports ${name}`,
        );
        continue;
      }
      const labels = labelsOf(selector)!;
      for (const matcher of selector.matchers) if (matcher.name !== "__name__") problems.push(...checkMatcher(where, name, matcher, labels, catalog));
    }
    for (const grouping of shape.groupings) {
      const known = grouping.scope.map(labelsOf);
      if (known.some((k) => k === undefined) || known.length === 0) continue;
      for (const label of grouping.labels) {
        if (made.has(label)) continue;
        if (!known.some((k) => k!.has(label))) {
          problems.push(`${where}: ${grouping.clause} (${label}): no series of ${[...new Set(grouping.scope.map((s) => s.metric))].join(", ")} has a label "${label}"`);
        }
      }
    }
  }
  return problems;
}

function checkMatcher(where: string, metric: string, matcher: Matcher, labels: Set<string>, catalog: Catalog): string[] {
  // A negative matcher on an absent label matches everything: not wrong, but never intended.
  if (!labels.has(matcher.name)) return [`${where}: ${metric} has no label "${matcher.name}" (in ${matcher.name}${matcher.op}"${matcher.value}")`];
  const seen = catalog.series.get(metric)?.get(matcher.name);
  // Target labels (job, instance) and recorded series: their values are the deployment's.
  if (!seen || hasGrafanaVariable(matcher.value)) return [];
  if (matcher.op === "=" && matcher.value !== "" && !seen.has(matcher.value)) {
    return [`${where}: ${metric}{${matcher.name}="${matcher.value}"}: no service exported that value (seen: ${[...seen].sort().join(", ")})`];
  }
  // An alternation of plain values ("RATE_LIMITED|OVERLOADED"): each one must have been seen.
  if (matcher.op === "=~" && /^[\w.-]+(\|[\w.-]+)*$/.test(matcher.value)) {
    const missing = matcher.value.split("|").filter((v) => !seen.has(v));
    if (missing.length > 0) return [`${where}: ${metric}{${matcher.name}=~"${matcher.value}"}: no service exported ${missing.map((v) => `"${v}"`).join(", ")} (seen: ${[...seen].sort().join(", ")})`];
    return [];
  }
  if (matcher.op === "=~" && ![...seen].some((v) => regexMatches(matcher.value, v))) {
    return [`${where}: ${metric}{${matcher.name}=~"${matcher.value}"}: matches none of the values exported (seen: ${[...seen].sort().join(", ")})`];
  }
  return [];
}
