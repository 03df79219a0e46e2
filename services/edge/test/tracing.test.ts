/**
 * Tracing: one trace from the socket event through every RPC, SQL statement and NATS
 * publish to the receiving socket (W3C trace context in gRPC metadata and NATS headers).
 * Tracing is installed before anything starts, with an in-memory exporter.
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { installTracing } from "@redup/kit";
import { waitFor } from "@redup/kit/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, connectUser, next, startStack, type Stack } from "./harness.js";

const exporter = new InMemorySpanExporter();
const tracing = installTracing({ serviceName: "redup-test", processors: [new SimpleSpanProcessor(exporter)] });
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
  await tracing.shutdown();
});

describe("tracing", () => {
  it("follows a message from send_message to the receiving socket in one trace", async () => {
    const edge = await stack.startEdge();
    const a = await connectUser(edge, 8101);
    const b = await connectUser(edge, 8102);
    exporter.reset();
    const received = next(b.socket, "receive_message");
    await call(a.socket, "send_message", { to: 8102, message: "trazado", type: "directo" });
    await received;
    const root = await waitFor(() => exporter.getFinishedSpans().find((s) => s.name === "socket send_message"), 5000, "the event's span");
    const traceId = root.spanContext().traceId;
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === "deliver user.message" && s.spanContext().traceId === traceId), 5000, "the delivery span");
    const names = new Set(exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId).map((s) => s.name));
    for (const name of [
      "socket send_message",
      "redup.messages.v1.MessagesService/SendMessages",
      "redup.delivery.v1.DeliveryService/DispatchMany",
      "db.query",
      "nats.publish",
      "deliver user.message",
    ]) {
      expect(names, name).toContain(name);
    }
    // SQL spans carry the statement, never the message body or parameters.
    const statements = exporter.getFinishedSpans().filter((s) => s.name === "db.query").map((s) => String(s.attributes["db.statement"]));
    expect(statements.some((st) => /insert into "?mensajes"? /i.test(st))).toBe(true);
    expect(statements.join(" ")).not.toContain("trazado");
    a.socket.disconnect();
    b.socket.disconnect();
  });
});
