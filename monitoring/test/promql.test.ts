/**
 * The PromQL reader and the check built on it, on a small exposition made here: what a query
 * selects is read with Prometheus's grammar, and the check names every metric, label and value
 * that the exposition does not have. Negative controls for each kind of mistake.
 */
import { describe, expect, it } from "vitest";
import { catalogOf, checkQueries, parseExposition, shapeOf } from "../src/index.js";

const EXPOSITION = `# HELP redup_rpc_duration_seconds Latency
# TYPE redup_rpc_duration_seconds histogram
redup_rpc_duration_seconds_bucket{le="0.005",method="SendMessages",code="ok",service="messages"} 3
redup_rpc_duration_seconds_bucket{le="+Inf",method="SendMessages",code="ok",service="messages"} 4
redup_rpc_duration_seconds_sum{method="SendMessages",code="ok",service="messages"} 0.01
redup_rpc_duration_seconds_count{method="SendMessages",code="ok",service="messages"} 4
# TYPE redup_edge_events_total counter
redup_edge_events_total{event="send_message",outcome="ok"} 10
redup_edge_events_total{event="send_message",outcome="fallback"} 1
redup_edge_events_total{event="join_group",outcome="RATE_LIMITED"} 2
# TYPE redup_serving gauge
redup_serving{service="rooms"} 1
# TYPE redup_shed_total counter
# TYPE redup_odd gauge
redup_odd{text="a \\"quoted\\", value\\\\ with\\nnewline"} 5
`;

const catalog = catalogOf([parseExposition(EXPOSITION)]);
const check = (expr: string) => checkQueries([{ where: "q", expr }], catalog);

describe("parseExposition", () => {
  it("reads names, labels (escaped quotes, commas, backslashes, newlines) and values", () => {
    const { samples, types } = parseExposition(EXPOSITION);
    expect(types.get("redup_rpc_duration_seconds")).toBe("histogram");
    expect(samples.find((s) => s.name === "redup_odd")).toEqual({ name: "redup_odd", labels: { text: 'a "quoted", value\\ with\nnewline' }, value: 5 });
    expect(samples.filter((s) => s.name === "redup_rpc_duration_seconds_bucket").map((s) => s.labels.le)).toEqual(["0.005", "+Inf"]);
  });
});

describe("shapeOf", () => {
  it("finds the selectors, matchers and grouping labels of a histogram quantile", () => {
    const shape = shapeOf('histogram_quantile(0.99, sum by (le, method) (rate(redup_rpc_duration_seconds_bucket{service="messages", code!~"ok|x"}[$__rate_interval])))');
    expect(shape.selectors).toEqual([
      {
        metric: "redup_rpc_duration_seconds_bucket",
        matchers: [
          { name: "service", op: "=", value: "messages" },
          { name: "code", op: "!~", value: "ok|x" },
        ],
      },
    ]);
    expect(shape.groupings.map((g) => [g.clause, g.labels])).toEqual([["by", ["le", "method"]]]);
  });

  it("reads on/ignoring/group_left, offsets, __name__ and label_replace", () => {
    const shape = shapeOf('a / on (instance) group_left (pod) b offset 5m or {__name__="c", x="1"} or label_replace(d, "made", "$1", "src", "(.*)")');
    expect(shape.selectors.map((s) => s.metric)).toEqual(["a", "b", "c", "d"]);
    expect(shape.groupings.map((g) => [g.clause, g.labels])).toEqual([
      ["on", ["instance"]],
      ["group_left", ["pod"]],
    ]);
    expect(shape.madeLabels).toEqual(["made"]);
  });

  it("refuses what Prometheus would not parse", () => {
    expect(() => shapeOf("sum(rate(x[5m])")).toThrow(/does not parse/);
    expect(() => shapeOf("x{a=}")).toThrow(/does not parse/);
  });
});

describe("checkQueries", () => {
  it("accepts queries that name only exported series, labels and values", () => {
    expect(check('histogram_quantile(0.99, sum by (le, method) (rate(redup_rpc_duration_seconds_bucket{service="messages"}[5m])))')).toEqual([]);
    expect(check('sum by (outcome) (rate(redup_edge_events_total{event="send_message", outcome=~"ok|fallback"}[5m]))')).toEqual([]);
    expect(check('sum by (outcome) (label_replace(redup_edge_events_total, "outcome", "saved", "outcome", "ok"))')).toEqual([]);
    // Prometheus's own series and target labels, and a recording rule's series.
    expect(check('up{job="redup-edge"} == 0 and on (instance) redup_serving')).toEqual([]);
    expect(checkQueries([{ where: "q", expr: 'redup:x:rate5m{outcome="ok"} > 0' }], catalog, new Map([["redup:x:rate5m", new Set(["outcome"])]]))).toEqual([]);
  });

  it("negative controls: names what no service exports", () => {
    expect(check("rate(redup_nobody_total[5m]) > 0")).toEqual(["q: no service exports redup_nobody_total"]);
    // A histogram has no series under its bare family name.
    expect(check("redup_rpc_duration_seconds")).toEqual(["q: no service exports redup_rpc_duration_seconds"]);
    expect(check('redup_serving{svc="rooms"}')).toEqual(['q: redup_serving has no label "svc" (in svc="rooms")']);
    expect(check('redup_serving{service="roms"}')[0]).toMatch(/service="roms"\}: no service exported that value \(seen: rooms\)/);
    expect(check('redup_edge_events_total{outcome=~"RATE_LIMITED|OVERLOADED"}')[0]).toMatch(/no service exported "OVERLOADED"/);
    expect(check("sum by (queue) (redup_edge_events_total)")[0]).toMatch(/by \(queue\): no series of redup_edge_events_total has a label "queue"/);
    expect(check("redup_shed_total")[0]).toMatch(/declared but had no sample/);
    expect(check("sum(rate(x[5m])")[0]).toMatch(/does not parse/);
  });
});
