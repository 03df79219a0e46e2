import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

/**
 * Shared by every package's vitest.config.ts: workspace packages resolve to their TypeScript
 * sources (the "@redup/source" export condition), so tests need no build of their deps.
 * Test files of a package run one at a time (they start servers and databases; the machine
 * has 2 cores); each file has its own database and NATS subject prefix.
 */
// Without "module": that condition points some packages (@opentelemetry/api) at builds only
// bundlers can load; tests resolve dependencies as Node does for the compiled services.
const conditions = ["@redup/source", ...defaultServerConditions.filter((c) => c !== "module")];

export const sharedConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@redup/source"] } },
  test: {
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
