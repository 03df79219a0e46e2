#!/usr/bin/env node
// Container health check of the RedUP Chat image, with nothing but Node's standard library
// (grpc_health_probe, curl and wget are not in the image).
//
//   node healthcheck.mjs                          the service this container runs
//   node healthcheck.mjs grpc <port> [service]    grpc.health.v1.Health/Check over HTTP/2
//   node healthcheck.mjs http <port> [path]       GET <path> (default /healthz), 2xx is healthy
//
// With no arguments the service is SERVICE, else the one named in PID 1's command line
// (docker-entrypoint.sh <service>); its port comes from <SERVICE>_PORT (PORT for the edge)
// or the default. The gRPC services are checked with grpc.health.v1 (SERVING means the
// database, and for delivery NATS, answer); the edge with GET /healthz.
// TLS is used when the service serves it (both SSL_CERT_FILE and SSL_KEY_FILE set, or the
// <SERVICE>_ prefixed ones); the certificate is not verified, the check is local.
// Exit status: 0 healthy, 1 unhealthy, 2 bad usage.
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { readFileSync } from "node:fs";

/** Default ports, as in @redup/kit's DEFAULT_PORTS and the edge's PORT default. */
const DEFAULT_PORTS = { rooms: 50051, messages: 50052, delivery: 50053, edge: 5000 };
const GRPC_SERVICES = ["rooms", "messages", "delivery"];
const HOST = process.env.HEALTHCHECK_HOST || "127.0.0.1";
const TIMEOUT_MS = Number(process.env.HEALTHCHECK_TIMEOUT_MS) || 3000;
const SERVING = 1;

const env = (name) => {
  const value = process.env[name];
  return value !== undefined && value.trim() !== "" ? value.trim() : undefined;
};

function tlsOn(service) {
  const up = service.toUpperCase();
  const prefixed = service === "edge" ? (name) => env(name) : (name) => env(`${up}_${name}`) ?? env(name);
  return Boolean(prefixed("SSL_CERT_FILE") && prefixed("SSL_KEY_FILE"));
}

/** The service of this container: SERVICE, else PID 1's command line. */
function detectService() {
  const named = env("SERVICE");
  if (named) return named;
  try {
    const argv = readFileSync("/proc/1/cmdline", "utf8").split("\0");
    for (const arg of argv) {
      const fromPath = /services\/([a-z]+)\/dist\/main\.js$/.exec(arg);
      if (fromPath) return fromPath[1];
      if (Object.hasOwn(DEFAULT_PORTS, arg)) return arg;
    }
  } catch {
    // not Linux, or no /proc: only SERVICE can say
  }
  return undefined;
}

/** A gRPC frame of HealthCheckRequest { service }. */
function healthRequest(service) {
  const name = Buffer.from(service, "utf8");
  if (name.length > 127) throw new Error("service name too long");
  const message = name.length ? Buffer.concat([Buffer.from([0x0a, name.length]), name]) : Buffer.alloc(0);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** HealthCheckResponse.status (field 1, varint) from a gRPC response body; 0 when absent. */
function healthStatus(body) {
  if (body.length < 5) return 0;
  if (body[0] !== 0) throw new Error("compressed response");
  const message = body.subarray(5, 5 + body.readUInt32BE(1));
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; at < message.length; shift += 7) {
      const byte = message[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new Error("truncated response");
  };
  let status = 0;
  while (at < message.length) {
    const tag = varint();
    const wire = tag & 7;
    if (tag >>> 3 === 1 && wire === 0) status = varint();
    else if (wire === 0) varint();
    else if (wire === 2) at += varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return status;
}

function grpcCheck(port, { tls = false, service = "" } = {}) {
  return new Promise((resolve) => {
    const session = http2.connect(`${tls ? "https" : "http"}://${HOST}:${port}`, tls ? { rejectUnauthorized: false } : {});
    let settled = false;
    const done = (ok, detail) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => done(false, `no answer in ${TIMEOUT_MS} ms`), TIMEOUT_MS);
    session.on("error", (err) => done(false, err.message));
    const req = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": `${TIMEOUT_MS}m`,
    });
    let headers = {};
    let trailers = {};
    const chunks = [];
    req.on("response", (h) => (headers = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("error", (err) => done(false, err.message));
    req.on("end", () => {
      if (headers[":status"] !== 200) return done(false, `HTTP ${headers[":status"]}`);
      // A trailers-only answer carries grpc-status in the headers.
      const code = trailers["grpc-status"] ?? headers["grpc-status"];
      const message = trailers["grpc-message"] ?? headers["grpc-message"];
      if (String(code) !== "0") return done(false, `grpc-status ${code}${message ? `: ${decodeURIComponent(message)}` : ""}`);
      try {
        const status = healthStatus(Buffer.concat(chunks));
        done(status === SERVING, status === SERVING ? "SERVING" : `status ${status} (not SERVING)`);
      } catch (err) {
        done(false, err.message);
      }
    });
    req.end(healthRequest(service));
  });
}

function httpCheck(port, path, { tls = false } = {}) {
  return new Promise((resolve) => {
    const client = tls ? https : http;
    const req = client.get(
      { host: HOST, port, path, timeout: TIMEOUT_MS, rejectUnauthorized: false, headers: { "user-agent": "redup-healthcheck" } },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve({ ok: code >= 200 && code < 300, detail: `HTTP ${code}` });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
    req.on("error", (err) => resolve({ ok: false, detail: err.message }));
  });
}

function usage(message) {
  process.stderr.write(
    `${message}\nusage: healthcheck.mjs [grpc <port> [service] | http <port> [path]] (or set SERVICE)\n`,
  );
  process.exit(2);
}

function parsePort(value) {
  const port = Number(value);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) usage(`bad port "${value}"`);
  return port;
}

async function main(argv) {
  const [mode, portArg, extra] = argv;
  let result;
  let what;
  if (mode === "grpc") {
    const port = parsePort(portArg);
    const service = detectService();
    what = `grpc ${HOST}:${port}`;
    result = await grpcCheck(port, { tls: service ? tlsOn(service) : false, service: extra ?? "" });
  } else if (mode === "http") {
    const port = parsePort(portArg);
    const path = extra ?? "/healthz";
    what = `GET ${HOST}:${port}${path}`;
    result = await httpCheck(port, path, { tls: tlsOn("edge") });
  } else if (mode === undefined) {
    const service = detectService();
    if (!service || !Object.hasOwn(DEFAULT_PORTS, service)) usage(`unknown service "${service ?? ""}": set SERVICE`);
    if (GRPC_SERVICES.includes(service)) {
      const port = parsePort(env(`${service.toUpperCase()}_PORT`) ?? DEFAULT_PORTS[service]);
      what = `${service} grpc ${HOST}:${port}`;
      result = await grpcCheck(port, { tls: tlsOn(service) });
    } else {
      const port = parsePort(env("PORT") ?? DEFAULT_PORTS.edge);
      what = `${service} GET ${HOST}:${port}/healthz`;
      result = await httpCheck(port, "/healthz", { tls: tlsOn("edge") });
    }
  } else {
    usage(`unknown mode "${mode}"`);
  }
  const line = `${what}: ${result.ok ? "healthy" : "unhealthy"} (${result.detail})\n`;
  (result.ok ? process.stdout : process.stderr).write(line);
  process.exit(result.ok ? 0 : 1);
}

await main(process.argv.slice(2));
