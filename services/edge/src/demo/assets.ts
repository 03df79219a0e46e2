/**
 * The /demo chat's browser bundle, built by `npm run build` (services/edge/demo, vite) into
 * dist/public. The path is the same from src/ (tests) and dist/ (npm start): both sit one
 * level under the package. Read on request, so a rebuild shows without a restart and a
 * missing build is a clear 503 rather than a failed start.
 */
import { readFile } from "node:fs/promises";

const PUBLIC = new URL("../../dist/public/", import.meta.url);

/** Only these files are served: the module and its source map. */
const FILES: Record<string, string> = {
  "chat.js": "text/javascript; charset=utf-8",
  "chat.js.map": "application/json; charset=utf-8",
};

export interface DemoAsset {
  type: string;
  body: Buffer;
}

export async function readDemoAsset(name: string): Promise<DemoAsset | "missing" | "unknown"> {
  const type = FILES[name];
  if (!type) return "unknown";
  try {
    return { type, body: await readFile(new URL(name, PUBLIC)) };
  } catch {
    return "missing";
  }
}
