/**
 * Builds the /demo chat's browser code, with socket.io-client (and, once it lands,
 * @redup/client) bundled in, into one module the edge serves itself at /demo/chat.js: no
 * CDN, no import map, nothing fetched from elsewhere. Run by the edge's `build` script.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export const demoOutDir = fileURLToPath(new URL("../dist/public", import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  logLevel: "warn",
  build: {
    outDir: demoOutDir,
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    lib: { entry: fileURLToPath(new URL("main.ts", import.meta.url)), formats: ["es"], fileName: () => "chat.js" },
  },
});
