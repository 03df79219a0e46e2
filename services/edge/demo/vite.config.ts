/**
 * Builds the /demo chat's browser code, with @redup/client and socket.io-client bundled in,
 * into one module the edge serves itself at /demo/chat.js: no CDN, no import map, nothing
 * fetched from elsewhere. Run by the edge's `build` script.
 *
 * @redup/client is bundled from its sources (its "@redup/source" export), and the edge does
 * not list it as a dependency: the client's own tests depend on the edge, and turbo refuses
 * a cycle. So the edge's build needs no build of the client, only the workspace's link.
 */
import { fileURLToPath } from "node:url";
import { defaultClientConditions, defineConfig } from "vite";

export const demoOutDir = fileURLToPath(new URL("../dist/public", import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  logLevel: "warn",
  resolve: { conditions: ["@redup/source", ...defaultClientConditions] },
  build: {
    outDir: demoOutDir,
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    lib: { entry: fileURLToPath(new URL("main.ts", import.meta.url)), formats: ["es"], fileName: () => "chat.js" },
  },
});
