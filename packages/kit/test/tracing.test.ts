import { createServer } from "node:http";
import { SpanKind } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { inSpan, installTracing, tracingEnabled } from "../src/index.js";

describe("OTLP export", () => {
  it("sends spans to OTEL_EXPORTER_OTLP_ENDPOINT's /v1/traces when configured", async () => {
    const received: { url: string; bytes: number }[] = [];
    const collector = createServer((req, res) => {
      let bytes = 0;
      req.on("data", (chunk: Buffer) => (bytes += chunk.length));
      req.on("end", () => {
        received.push({ url: req.url ?? "", bytes });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    try {
      expect(tracingEnabled()).toBe(false);
      const port = (collector.address() as { port: number }).port;
      const tracing = installTracing({ serviceName: "redup-kit-test", otlpEndpoint: `http://127.0.0.1:${port}` });
      expect(tracingEnabled()).toBe(true);
      await inSpan("work", SpanKind.INTERNAL, { step: "one" }, async () => "done");
      await tracing.shutdown();
      expect(received.length).toBeGreaterThan(0);
      expect(received[0]!.url).toBe("/v1/traces");
      expect(received[0]!.bytes).toBeGreaterThan(0);
    } finally {
      collector.close();
    }
  });
});
