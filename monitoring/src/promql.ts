import type { SyntaxNode } from "@lezer/common";
import { parser } from "@prometheus-io/lezer-promql";

/** A label matcher of a selector, as written: `code!="ok"` is { name: "code", op: "!=", value: "ok" }. */
export interface Matcher {
  name: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

/** One series selector of a query: `redup_serving{service="rooms"}`. */
export interface Selector {
  /** The metric name, from the name or from a `__name__="…"` matcher; undefined for a `__name__=~` regex. */
  metric: string | undefined;
  matchers: Matcher[];
}

/** Label names a query relies on beyond its selectors: `by`, `without`, `on`, `ignoring`, `group_left(…)`. */
export interface Grouping {
  clause: "by" | "without" | "on" | "ignoring" | "group_left" | "group_right";
  labels: string[];
  /** The selectors of the expression the clause applies to (an aggregation's body, both sides of a binary operation). */
  scope: Selector[];
}

/** What a query reads: its selectors, its grouping clauses, and labels it makes itself (`label_replace`). */
export interface QueryShape {
  selectors: Selector[];
  groupings: Grouping[];
  /** Labels created by label_replace / label_join, which later clauses may use. */
  madeLabels: string[];
}

export class PromQLSyntaxError extends Error {}

/**
 * Grafana's interval macros are not PromQL; they are replaced by a plain duration before parsing
 * (their value does not change what a query selects).
 */
export function expandGrafanaMacros(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g, "5m");
}

/** A PromQL string literal's value ("…", '…' or `…`). */
function unquote(literal: string): string {
  const quote = literal[0];
  const body = literal.slice(1, -1);
  if (quote === "`") return body;
  return body.replace(/\\(.)/g, (_m, c: string) => ({ n: "\n", t: "\t", r: "\r" })[c] ?? c);
}

const children = (node: SyntaxNode): SyntaxNode[] => {
  const out: SyntaxNode[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) out.push(child);
  return out;
};

/**
 * Reads a PromQL expression with Prometheus's own grammar (@prometheus-io/lezer-promql, the
 * parser of Prometheus's web UI) and returns what it selects. Throws PromQLSyntaxError when
 * the expression does not parse.
 */
export function shapeOf(expr: string): QueryShape {
  const text = expandGrafanaMacros(expr);
  const tree = parser.parse(text);
  const errors: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) errors.push(`at ${node.from}: ${JSON.stringify(text.slice(Math.max(0, node.from - 20), node.to + 20))}`);
    },
  });
  if (errors.length > 0) throw new PromQLSyntaxError(`does not parse (${errors.join("; ")}): ${expr}`);
  const src = (node: SyntaxNode) => text.slice(node.from, node.to);

  const selectorsIn = (node: SyntaxNode): Selector[] => {
    const found: Selector[] = [];
    const visit = (n: SyntaxNode) => {
      if (n.name === "VectorSelector") {
        found.push(readSelector(n));
        return;
      }
      for (const c of children(n)) visit(c);
    };
    visit(node);
    return found;
  };

  const readSelector = (node: SyntaxNode): Selector => {
    let metric: string | undefined;
    const matchers: Matcher[] = [];
    const visit = (n: SyntaxNode) => {
      if (n.name === "Identifier" && n.parent?.name === "VectorSelector") metric = src(n);
      if (n.name === "UnquotedLabelMatcher" || n.name === "QuotedLabelMatcher") {
        const parts = children(n);
        const nameNode = parts.find((p) => p.name === "LabelName" || p.name === "QuotedLabelName");
        const op = parts.find((p) => p.name === "MatchOp");
        const value = parts.find((p) => p.name === "StringLiteral");
        if (nameNode && op && value) {
          const name = nameNode.name === "QuotedLabelName" ? unquote(src(nameNode)) : src(nameNode);
          matchers.push({ name, op: src(op) as Matcher["op"], value: unquote(src(value)) });
        } else if (n.name === "QuotedLabelMatcher" && parts.length === 1) {
          // {"metric_name"}: the UTF-8 quoted form of a name.
          metric = unquote(src(parts[0]!));
        }
        return;
      }
      for (const c of children(n)) visit(c);
    };
    visit(node);
    const byName = matchers.find((m) => m.name === "__name__");
    if (byName?.op === "=") metric = byName.value;
    // A `__name__="…"` matcher is the name; a `__name__=~"…"` one stays a matcher.
    return { metric, matchers: matchers.filter((m) => !(m.name === "__name__" && m.op === "=")) };
  };

  /** The label names of a `by (…)` / `without (…)` modifier. */
  const labelsOf = (modifier: SyntaxNode): string[] => {
    const grouping = children(modifier).find((c) => c.name === "GroupingLabels");
    return grouping ? children(grouping).map(src) : [];
  };

  const groupings: Grouping[] = [];
  const madeLabels: string[] = [];
  tree.iterate({
    enter(ref) {
      const node = ref.node;
      if (node.name === "AggregateExpr") {
        const modifier = children(node).find((c) => c.name === "AggregateModifier");
        const body = children(node).find((c) => c.name === "FunctionCallBody");
        if (modifier && body) {
          const kind = children(modifier)[0]!.name === "By" ? "by" : "without";
          groupings.push({ clause: kind, labels: labelsOf(modifier), scope: selectorsIn(body) });
        }
      }
      if (node.name === "BinaryExpr") {
        const clause = children(node).find((c) => c.name === "MatchingModifierClause");
        if (clause) {
          const scope = selectorsIn(node);
          const parts = children(clause);
          const matching = parts[0]!.name === "On" ? "on" : "ignoring";
          const first = parts.find((p) => p.name === "GroupingLabels");
          if (first) groupings.push({ clause: matching, labels: children(first).map(src), scope });
          const group = parts.findIndex((p) => p.name === "GroupLeft" || p.name === "GroupRight");
          const extra = group >= 0 ? parts.slice(group + 1).find((p) => p.name === "GroupingLabels") : undefined;
          if (extra) groupings.push({ clause: parts[group]!.name === "GroupLeft" ? "group_left" : "group_right", labels: children(extra).map(src), scope });
        }
      }
      if (node.name === "FunctionCall") {
        const name = src(children(node)[0]!);
        if (name === "label_replace" || name === "label_join") {
          const args = children(children(node).find((c) => c.name === "FunctionCallBody")!).filter((c) => c.name === "StringLiteral");
          if (args[0]) madeLabels.push(unquote(src(args[0])));
        }
      }
    },
  });
  return { selectors: selectorsIn(tree.topNode), groupings, madeLabels };
}
