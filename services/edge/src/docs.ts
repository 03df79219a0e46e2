import { readFileSync } from "node:fs";
import { Marked, type Tokens } from "marked";

/** The protocol's documentation as the edge serves it under /docs. */
export interface Docs {
  /** docs/protocol.md rendered into a page. */
  html: string;
  /** docs/protocol.md as written. */
  markdown: string;
  /** docs/asyncapi.yaml as written. */
  asyncapi: string;
}

/**
 * The repository's docs/: two folders up from this file's folder, both from src/ (tests) and
 * from dist/ (the build and the image, which copies docs/ beside services/).
 */
export const DOCS_DIR = new URL("../../../docs/", import.meta.url);

/** GitHub's heading anchors (`## Error codes` → `error-codes`), so the reference's links work here too. */
const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/<[^>]*>/g, "")
    .replace(/[^\p{L}\p{N}_\- ]/gu, "")
    .trim()
    .replace(/ /g, "-");

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function render(markdown: string): string {
  const marked = new Marked({
    gfm: true,
    renderer: {
      heading({ tokens, depth, text }: Tokens.Heading) {
        return `<h${depth} id="${slug(text.replace(/`/g, ""))}">${this.parser.parseInline(tokens)}</h${depth}>\n`;
      },
      // Links out of docs/ (to the sources) only work in the repository: keep their text.
      link({ href, title, tokens }: Tokens.Link) {
        const inner = this.parser.parseInline(tokens);
        if (href.startsWith("../")) return inner;
        return `<a href="${escapeHtml(href)}"${title ? ` title="${escapeHtml(title)}"` : ""}>${inner}</a>`;
      },
    },
  });
  const body = marked.parse(markdown, { async: false });
  const title = /^# (.+)$/m.exec(markdown)?.[1] ?? "Protocol";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  body { font: 15px/1.55 system-ui, sans-serif; margin: 0 auto; padding: 1.5rem; max-width: 58rem; color: #1d2433; }
  nav { font-size: .9rem; margin-bottom: 1rem; }
  code { font: 13px ui-monospace, monospace; background: #f2f4f8; padding: .05rem .25rem; border-radius: 3px; }
  pre { background: #f2f4f8; padding: .8rem; overflow: auto; border-radius: 6px; }
  pre code { padding: 0; }
  h1 code, h2 code, h3 code { font-size: .95em; }
  table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
  th, td { border: 1px solid #ccd3e0; padding: .3rem .5rem; text-align: left; vertical-align: top; }
  h2 { border-bottom: 1px solid #ccd3e0; padding-bottom: .2rem; margin-top: 2rem; }
  h3 { margin-top: 1.6rem; }
</style>
</head>
<body>
<nav><a href="asyncapi.yaml">AsyncAPI document</a> · <a href="protocol.md">Markdown</a></nav>
${body}
</body>
</html>
`;
}

/** Reads and renders docs/ once; undefined when the folder is not there (the edge then serves no /docs). */
export function loadDocs(dir: URL = DOCS_DIR): Docs | undefined {
  let markdown: string;
  let asyncapi: string;
  try {
    markdown = readFileSync(new URL("protocol.md", dir), "utf8");
    asyncapi = readFileSync(new URL("asyncapi.yaml", dir), "utf8");
  } catch {
    return undefined;
  }
  return { html: render(markdown), markdown, asyncapi };
}
