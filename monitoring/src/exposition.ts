/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** What one scrape of /metrics holds. */
export interface Exposition {
  samples: Sample[];
  /** `# TYPE` of each declared metric family, by family name. */
  types: Map<string, string>;
}

const SUFFIXES: Record<string, string[]> = {
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["", "_sum", "_count"],
  counter: [""],
  gauge: [""],
  untyped: [""],
};

/**
 * Parses the Prometheus text format (version 0.0.4, what prom-client serves). Label values may
 * hold escaped quotes, backslashes and newlines.
 */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      const type = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (type) types.set(type[1]!, type[2]!);
      continue;
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    if (!name) throw new Error(`not a sample line: ${line}`);
    let at = name.length;
    const labels: Record<string, string> = {};
    if (line[at] === "{") {
      at++;
      for (;;) {
        while (line[at] === " " || line[at] === ",") at++;
        if (line[at] === "}") {
          at++;
          break;
        }
        const label = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(at))?.[0];
        if (!label || line[at + label.length] !== "=" || line[at + label.length + 1] !== '"') throw new Error(`bad labels in: ${line}`);
        at += label.length + 2;
        let value = "";
        while (at < line.length && line[at] !== '"') {
          if (line[at] === "\\") {
            const next = line[at + 1];
            value += next === "n" ? "\n" : (next ?? "");
            at += 2;
          } else value += line[at++];
        }
        if (line[at] !== '"') throw new Error(`unterminated label value in: ${line}`);
        at++;
        labels[label] = value;
      }
    }
    const value = Number(line.slice(at).trim().split(/\s+/)[0]);
    samples.push({ name, labels, value });
  }
  return { samples, types };
}

/** Series names of a declared family (a histogram's _bucket, _sum and _count...). */
export function seriesNamesOf(family: string, type: string): string[] {
  return (SUFFIXES[type] ?? [""]).map((suffix) => family + suffix);
}
