import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { Interceptor } from "@connectrpc/connect";
import { ConnectError } from "@connectrpc/connect";

/**
 * OpenTelemetry tracing, off by default: nothing is recorded (and no hook is installed on the
 * hot paths) until installTracing() runs — which each process's entry does when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set. Context travels in W3C `traceparent` headers: in gRPC
 * metadata between services and in NATS message headers to the edges.
 */
let enabled = false;
export const tracingEnabled = () => enabled;

export const tracer = () => trace.getTracer("redup");

export interface TracingOptions {
  serviceName: string;
  /** An OTLP/HTTP endpoint (e.g. http://collector:4318); ignored when processors are given. */
  otlpEndpoint?: string | undefined;
  /** Span processors to use instead (tests use an in-memory exporter). */
  processors?: SpanProcessor[];
}

export function installTracing(options: TracingOptions): { shutdown(): Promise<void> } {
  const processors =
    options.processors ??
    (options.otlpEndpoint ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, "")}/v1/traces` }))] : []);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName }),
    spanProcessors: processors,
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  return { shutdown: () => provider.shutdown() };
}

/** Runs `fn` in a new active span that ends (with its error status) when `fn` settles. */
export async function inSpan<T>(name: string, kind: SpanKind, attributes: Record<string, string>, fn: (span: Span) => Promise<T>, parent?: Context): Promise<T> {
  if (!enabled) return fn(trace.wrapSpanContext({ traceId: "", spanId: "", traceFlags: 0 }));
  return tracer().startActiveSpan(name, { kind, attributes }, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof ConnectError ? err.rawMessage : (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs one batch of traced work: the batch continues the trace of its first item and links
 * the others', so each message's trace still reaches the RPC and SQL that carried it.
 */
export function inBatchSpan<T>(name: string, parents: Context[], fn: () => Promise<T>): Promise<T> {
  if (!enabled || parents.length === 0) return fn();
  const links = parents
    .slice(1)
    .map((ctx) => trace.getSpanContext(ctx))
    .filter((sc) => sc !== undefined)
    .map((sc) => ({ context: sc }));
  return tracer().startActiveSpan(name, { kind: SpanKind.INTERNAL, attributes: { "redup.batch.size": parents.length }, links }, parents[0]!, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

const headerGetter = {
  get: (carrier: Headers, key: string) => carrier.get(key) ?? undefined,
  keys: (carrier: Headers) => [...carrier.keys()],
};
const headerSetter = { set: (carrier: Headers, key: string, value: string) => carrier.set(key, value) };

/** Server side: continues the caller's trace from the gRPC metadata. */
export function serverTracing(service: string): Interceptor {
  return (next) => (req) => {
    if (!enabled) return next(req);
    const parent = propagation.extract(ROOT_CONTEXT, req.header, headerGetter);
    return inSpan(`${req.service.typeName}/${req.method.name}`, SpanKind.SERVER, { "rpc.system": "grpc", "redup.service": service }, () => next(req), parent);
  };
}

/** Client side: a span per call, its context sent in the gRPC metadata. */
export function clientTracing(): Interceptor {
  return (next) => (req) => {
    if (!enabled) return next(req);
    return inSpan(`${req.service.typeName}/${req.method.name}`, SpanKind.CLIENT, { "rpc.system": "grpc" }, () => {
      propagation.inject(context.active(), req.header, headerSetter);
      return next(req);
    });
  };
}

/** Trace context as NATS headers (a plain map the bus turns into message headers). */
export function traceHeaders(): Record<string, string> | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The context carried by a received event's headers. */
export function contextFromHeaders(get: (key: string) => string | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, {}, { get: (_c, key) => get(key), keys: () => ["traceparent", "tracestate"] });
}
