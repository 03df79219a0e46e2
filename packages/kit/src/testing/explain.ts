import { withClient } from "./database.js";

/** One node of a query plan: what it does, and on which table or index. */
export interface PlanNode {
  type: string;
  relation?: string;
  index?: string;
}

interface RawNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: RawNode[];
}

/**
 * The plan PostgreSQL chooses for a statement with these parameters (EXPLAIN, not run), as a
 * flat list of nodes: a test asserts that a query reads the index it was built for, and never
 * scans a whole table, on data big enough for the planner to care.
 */
export async function explainPlan(url: string, text: string, params: unknown[] = []): Promise<PlanNode[]> {
  const [row] = await withClient(url, async (c) => (await c.query(`explain (format json) ${text}`, params)).rows);
  const nodes: PlanNode[] = [];
  const walk = (node: RawNode) => {
    nodes.push({ type: node["Node Type"], relation: node["Relation Name"], index: node["Index Name"] });
    for (const child of node.Plans ?? []) walk(child);
  };
  walk((row as { "QUERY PLAN": { Plan: RawNode }[] })["QUERY PLAN"][0]!.Plan);
  return nodes;
}
