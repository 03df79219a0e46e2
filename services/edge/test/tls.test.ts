/**
 * TLS when configured, with a self-signed certificate made at test time: the services serve
 * gRPC over TLS and call each other with SERVICES_CA_FILE, and the edge serves HTTPS/WSS.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "./harness.js";

const dir = mkdtempSync(join(tmpdir(), "redup-tls-"));
const cert = join(dir, "cert.pem");
const key = join(dir, "key.pem");
let stack: Stack;

beforeAll(async () => {
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  stack = await startStack({ SSL_CERT_FILE: cert, SSL_KEY_FILE: key, SERVICES_CA_FILE: cert });
});
afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("TLS", () => {
  it("runs the services over TLS and the edge over HTTPS/WSS", async () => {
    for (const server of [stack.core.rooms, stack.core.messages, stack.core.delivery]) expect(server.url).toMatch(/^https:\/\//);
    const edge = await stack.startEdge();
    expect(edge.url).toMatch(/^https:\/\//);
    const ca = readFileSync(cert, "utf8");
    const connect = (userId: string) => {
      const socket = io(edge.url.replace("localhost", "127.0.0.1"), { query: { user_id: userId }, transports: ["websocket"], ca, reconnection: false, forceNew: true });
      return new Promise<typeof socket>((resolve, reject) => {
        socket.once("connected", () => resolve(socket));
        socket.once("connect_error", reject);
      });
    };
    const a = await connect("1");
    const b = await connect("2");
    const got = new Promise<Record<string, unknown>>((resolve) => b.once("receive_message", resolve));
    const ack = (await a.timeout(10_000).emitWithAck("send_message", { to: "2", message: "cifrado", type: "directo" })) as Record<string, unknown>;
    expect(ack).toMatchObject({ saved_to_db: true });
    expect(await got).toMatchObject({ message: "cifrado", mensaje_id: ack["mensaje_id"] });

    // Without trusting the certificate, a client is refused.
    const untrusted = io(edge.url.replace("localhost", "127.0.0.1"), { query: { user_id: "3" }, transports: ["websocket"], reconnection: false, forceNew: true });
    const err = await new Promise<Error>((resolve) => untrusted.once("connect_error", resolve));
    expect(err.message).toMatch(/websocket error|self.signed|certificate/i);
    untrusted.close();
    a.disconnect();
    b.disconnect();
  });
});
