import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The three protocols every service serves. */
export type WireProtocol = "grpc" | "grpc-web" | "connect";

export interface StrictAnswer {
  /** curl's exit code: 0, or e.g. 92 when the server broke HTTP/2 (PROTOCOL_ERROR). */
  exit: number;
  stderr: string;
  /** The HTTP status, 0 when curl read none. */
  status: number;
  /** Response headers, names lower-cased, in order. */
  headers: [string, string][];
  /** HTTP/2 trailers (gRPC), or the trailer frame in the body (gRPC-Web). */
  trailers: [string, string][];
  /** The body, without a gRPC-Web trailer frame. */
  body: Buffer;
}

/**
 * Why curl cannot be the strict client here, or undefined when it can: it must exist and
 * speak HTTP/2 (nghttp2, which refuses headers HTTP/2 forbids in trailers).
 */
export function strictClientMissing(): string | undefined {
  const version = spawnSync("curl", ["--version"], { encoding: "utf8" });
  if (version.error || version.status !== 0) return "curl is not installed (apt-get install curl)";
  if (!/\bHTTP2\b/.test(version.stdout)) return "this curl has no HTTP/2 support (nghttp2)";
  return undefined;
}

const CONTENT_TYPES: Record<WireProtocol, string> = {
  grpc: "application/grpc+proto",
  "grpc-web": "application/grpc-web+proto",
  connect: "application/proto",
};

/** A length-prefixed message, as gRPC and gRPC-Web frame it. */
function frame(message: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

const headerLines = (text: string): [string, string][] =>
  text
    .split("\r\n")
    .filter((line) => line.includes(":"))
    .map((line) => {
      const at = line.indexOf(":");
      return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()];
    });

/** Splits a gRPC-Web body into its message frames and its trailer frame (flag 0x80). */
function splitGrpcWeb(body: Buffer): { body: Buffer; trailers: [string, string][] } {
  const data: Buffer[] = [];
  let trailers: [string, string][] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const flags = body.readUInt8(at);
    const length = body.readUInt32BE(at + 1);
    const payload = body.subarray(at + 5, at + 5 + length);
    if (flags & 0x80) trailers = headerLines(payload.toString("utf8"));
    else data.push(payload);
    at += 5 + length;
  }
  return { body: Buffer.concat(data), trailers };
}

/**
 * One unary call made with curl over HTTP/2 without TLS (prior knowledge), as strict as
 * nghttp2 is: a response whose trailers hold a header HTTP/2 forbids there (content-length,
 * connection-specific fields) fails with PROTOCOL_ERROR, as grpcio and grpc-go clients do.
 * `request` is the serialized request message; framing follows the protocol.
 */
export function strictCall(baseUrl: string, path: string, protocol: WireProtocol, request: Uint8Array, headers: Record<string, string> = {}): Promise<StrictAnswer> {
  const dir = mkdtempSync(join(tmpdir(), "redup-curl-"));
  const bodyFile = join(dir, "body");
  const args = ["-sS", "--http2-prior-knowledge", "--max-time", "15", "-X", "POST", "-D", "-", "--data-binary", "@-", "-o", bodyFile];
  const all: Record<string, string> = { "content-type": CONTENT_TYPES[protocol], ...headers };
  if (protocol === "grpc") all["te"] = "trailers";
  for (const [name, value] of Object.entries(all)) args.push("-H", `${name}: ${value}`);
  args.push(new URL(path, baseUrl).toString());
  const body = protocol === "connect" ? Buffer.from(request) : frame(request);
  return new Promise((resolve, reject) => {
    const child = spawn("curl", args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.once("error", reject);
    child.once("close", (code) => {
      // stdout: the header block, a blank line, then the trailer block (curl writes HTTP/2
      // trailers where it writes headers).
      const dump = Buffer.concat(out).toString("utf8");
      const [head = "", ...rest] = dump.split("\r\n\r\n");
      const statusLine = /^HTTP\/\S+\s+(\d+)/.exec(head);
      let responseBody: Buffer;
      try {
        responseBody = readFileSync(bodyFile);
      } catch {
        responseBody = Buffer.alloc(0);
      }
      rmSync(dir, { recursive: true, force: true });
      const answer: StrictAnswer = {
        exit: code ?? -1,
        stderr: Buffer.concat(err).toString("utf8").trim(),
        status: statusLine ? Number(statusLine[1]) : 0,
        headers: headerLines(head),
        trailers: headerLines(rest.join("\r\n\r\n")),
        body: responseBody,
      };
      if (protocol === "grpc-web") Object.assign(answer, splitGrpcWeb(responseBody));
      resolve(answer);
    });
    child.stdin.end(body);
  });
}
