/**
 * Who is who and abuse resistance at the edge: JWT handshakes (HS256, RS256 via JWKS, ES256
 * public key), production refusing to start without keys, rate limits, connection caps, the
 * `members` group policy, slow consumers, SQL-looking text, and secrets kept out of logs.
 */
import { createServer, type Server } from "node:http";
import { Writable } from "node:stream";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { createLogger, createServiceClient } from "@redup/kit";
import { waitFor } from "@redup/kit/testing";
import { RoomsService } from "@redup/proto/redup/rooms/v1/rooms_pb";
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import type { EdgeServer } from "../src/index.js";
import { call, collect, connectUser, startStack, until, type Stack } from "./harness.js";

const SECRET = "una-clave-de-prueba-de-al-menos-32-bytes!";
const SERVICE_TOKEN = "token-de-servicio-de-prueba-con-32-caracteres-o-mas";
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

const hs256 = (claims: Record<string, unknown>, expiresIn: string | number = "5m", secret = SECRET) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime(expiresIn).sign(new TextEncoder().encode(secret));

/** Connects and resolves with `connected`, or rejects with the connect_error. */
function handshake(edge: EdgeServer, opts: { auth?: Record<string, unknown>; query?: Record<string, string> }) {
  const socket = io(edge.url, { ...opts, transports: ["websocket"], reconnection: false, forceNew: true });
  return new Promise<{ socket: typeof socket; connected: Record<string, unknown> }>((resolve, reject) => {
    socket.once("connected", (connected: Record<string, unknown>) => resolve({ socket, connected }));
    socket.once("connect_error", (err: Error & { data?: unknown }) => {
      socket.close();
      reject(err);
    });
  });
}

async function refusedWith(promise: Promise<unknown>): Promise<{ message: string; code: unknown }> {
  try {
    await promise;
  } catch (err) {
    return { message: (err as Error).message, code: (err as { data?: { code?: unknown } }).data?.code };
  }
  throw new Error("expected the handshake to be refused");
}

describe("JWT handshakes", () => {
  it("with SECRET_KEY (HS256): requires a valid, unexpired token whose sub is the user", async () => {
    const edge = await stack.startEdge({ SECRET_KEY: SECRET, AUTH_REQUIRED: "true" });
    expect(await refusedWith(handshake(edge, { query: { user_id: "123" } }))).toEqual({ message: "token requerido", code: "UNAUTHORIZED" });
    const ok = await handshake(edge, { auth: { token: await hs256({ sub: "123" }) } });
    expect(ok.connected).toMatchObject({ status: "connected", user_id: "123" });
    const viaQuery = await handshake(edge, { query: { token: await hs256({ sub: "124" }), user_id: "124" } });
    expect(viaQuery.connected["user_id"]).toBe("124");
    expect(await refusedWith(handshake(edge, { auth: { token: await hs256({ sub: "123" }), user_id: "999" } }))).toEqual({ message: "user_id no coincide con el token", code: "UNAUTHORIZED" });
    expect(await refusedWith(handshake(edge, { auth: { token: await hs256({ sub: "123" }, Math.floor(Date.now() / 1000) - 10) } }))).toEqual({ message: "token expirado", code: "UNAUTHORIZED" });
    expect(await refusedWith(handshake(edge, { auth: { token: await hs256({ sub: "123" }, "5m", "otra-clave-distinta-de-al-menos-32-bytes") } }))).toMatchObject({ code: "UNAUTHORIZED" });
    expect(await refusedWith(handshake(edge, { auth: { token: await hs256({ sub: "juan" }) } }))).toMatchObject({ code: "UNAUTHORIZED" });
    // A token without exp is refused: every token must expire.
    const noExp = await new SignJWT({ sub: "123" }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(SECRET));
    expect(await refusedWith(handshake(edge, { auth: { token: noExp } }))).toMatchObject({ code: "UNAUTHORIZED" });
    // alg "none" is never accepted.
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "123", exp: 9_999_999_999 })).toString("base64url")}.`;
    expect(await refusedWith(handshake(edge, { auth: { token: unsigned } }))).toMatchObject({ code: "UNAUTHORIZED" });
    ok.socket.disconnect();
    viaQuery.socket.disconnect();
  });

  it("cuts the socket when its token expires", async () => {
    const edge = await stack.startEdge({ SECRET_KEY: SECRET, AUTH_REQUIRED: "true" });
    const { socket } = await handshake(edge, { auth: { token: await hs256({ sub: "130" }, Math.floor(Date.now() / 1000) + 2) } });
    const errors = collect<Record<string, unknown>>(socket as never, "error");
    await new Promise<void>((resolve) => socket.once("disconnect", () => resolve()));
    expect(errors).toEqual([{ event: "connection", code: "UNAUTHORIZED", message: "token expirado" }]);
  });

  it("with a JWKS (RS256) or a public key (ES256)", async () => {
    const rsa = await generateKeyPair("RS256");
    const jwk = { ...(await exportJWK(rsa.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    const jwks: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    try {
      const port = (jwks.address() as { port: number }).port;
      const edge = await stack.startEdge({ JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`, JWT_ISSUER: "https://auth.redup.edu", JWT_AUDIENCE: "redup-chat" });
      const sign = (claims: Record<string, unknown>, issuer = "https://auth.redup.edu") =>
        new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "k1" }).setIssuer(issuer).setAudience("redup-chat").setExpirationTime("5m").sign(rsa.privateKey);
      const ok = await handshake(edge, { auth: { token: await sign({ sub: "140" }) } });
      expect(ok.connected["user_id"]).toBe("140");
      expect(await refusedWith(handshake(edge, { auth: { token: await sign({ sub: "140" }, "https://evil.example") } }))).toMatchObject({ code: "UNAUTHORIZED" });
      // An HS256 token signed with the public key's bytes (algorithm confusion) is refused.
      const confused = await new SignJWT({ sub: "140" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m").sign(new TextEncoder().encode(await exportSPKI(rsa.publicKey)));
      expect(await refusedWith(handshake(edge, { auth: { token: confused } }))).toMatchObject({ code: "UNAUTHORIZED" });
      ok.socket.disconnect();

      const ec = await generateKeyPair("ES256", { extractable: true });
      const edge2 = await stack.startEdge({ JWT_PUBLIC_KEY: await exportSPKI(ec.publicKey) });
      const token = await new SignJWT({ sub: "150" }).setProtectedHeader({ alg: "ES256" }).setExpirationTime("5m").sign(ec.privateKey);
      const ok2 = await handshake(edge2, { auth: { token } });
      expect(ok2.connected["user_id"]).toBe("150");
      ok2.socket.disconnect();
    } finally {
      jwks.close();
    }
  });

  it("refuses to start in production without a way to authenticate, or with a weak secret", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/production needs SECRET_KEY/);
    expect(() => loadConfig({ NODE_ENV: "production", SECRET_KEY: "dev-secret-key-local-only", SERVICE_TOKEN })).toThrow(/at least 32 bytes/);
    expect(() => loadConfig({ NODE_ENV: "production", SECRET_KEY: SECRET })).toThrow(/SERVICE_TOKEN is required/);
    expect(loadConfig({ NODE_ENV: "production", SECRET_KEY: SECRET, SERVICE_TOKEN }).auth.mode).toBe("jwt");
    // The guide's development .env sets SECRET_KEY; development keeps the bare user_id.
    expect(loadConfig({ NODE_ENV: "development", SECRET_KEY: "dev-secret-key-local-only" }).auth.mode).toBe("none");
  });
});

describe("service credentials", () => {
  it("runs end to end when every service requires SERVICE_TOKEN", async () => {
    const guarded = await startStack({ SERVICE_TOKEN });
    try {
      const edge = await guarded.startEdge();
      const a = await connectUser(edge, 160);
      const b = await connectUser(edge, 161);
      const got = collect<Record<string, unknown>>(b.socket, "receive_message");
      const ack = await call(a.socket, "send_message", { to: 161, message: "con credencial", type: "directo" });
      expect(ack).toMatchObject({ saved_to_db: true });
      await until(got, 1);
      expect(await call(b.socket, "mark_delivered", { mensaje_id: ack["mensaje_id"] })).toMatchObject({ status: "ok" });
      // An edge without the credential is refused by the services.
      const stranger = await guarded.startEdge({ SERVICE_TOKEN: "" });
      const c = await connectUser(stranger, 162);
      expect(await call(c.socket, "join_group", { group_id: 1 })).toMatchObject({ status: "error" });
      for (const s of [a, b, c]) s.socket.disconnect();
    } finally {
      await guarded.close();
    }
  });
});

describe("abuse", () => {
  it("rate-limits a connection with RATE_LIMITED, and the socket stays usable", async () => {
    const edge = await stack.startEdge({ RATE_LIMIT_EVENTS_PER_SEC: "5", RATE_LIMIT_EVENT_BURST: "5" });
    const { socket } = await connectUser(edge, 170);
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => call(socket, "send_message", { to: 171, message: `r${i}`, type: "directo" })));
    const limited = replies.filter((r) => r["code"] === "RATE_LIMITED");
    expect(replies.filter((r) => r["status"] === "sent").length).toBeLessThanOrEqual(6);
    expect(limited.length).toBeGreaterThanOrEqual(6);
    expect(await stack.query("select count(*)::int as n from mensajes where remitente_id = 170")).toEqual([{ n: 12 - limited.length }]);
    await waitFor(async () => (await call(socket, "send_message", { to: 171, message: "después", type: "directo" }))["status"] === "sent", 5000, "the budget to refill");
    socket.disconnect();
  });

  it("caps sockets per user", async () => {
    const edge = await stack.startEdge({ MAX_SOCKETS_PER_USER: "2" });
    const a = await connectUser(edge, 180);
    const b = await connectUser(edge, 180);
    expect(await refusedWith(handshake(edge, { query: { user_id: "180" } }))).toMatchObject({ code: "TOO_MANY_CONNECTIONS" });
    a.socket.disconnect();
    await waitFor(() => edge.context.fanout.socketsOf("180").size === 1, 5000, "the disconnect");
    const c = await connectUser(edge, 180);
    b.socket.disconnect();
    c.socket.disconnect();
  });

  it("cuts a socket that cannot keep up, keeping its messages for catch-up", async () => {
    const edge = await stack.startEdge({ MAX_BUFFERED_PACKETS: "5" });
    // A polling client that connects and then never polls again: packets pile up server-side.
    const open = await fetch(`${edge.url}/socket.io/?EIO=4&transport=polling&user_id=190`);
    const sid = JSON.parse((await open.text()).slice(1))["sid"] as string;
    await fetch(`${edge.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: "40" });
    await waitFor(() => edge.context.fanout.socketsOf("190").size === 1, 5000, "the slow socket to join");
    const sender = await connectUser(edge, 191);
    for (let i = 0; i < 12; i++) await call(sender.socket, "send_message", { to: 190, message: `lento ${i}`, type: "directo" });
    await waitFor(() => edge.context.fanout.socketsOf("190").size === 0, 5000, "the slow socket to be cut");
    const pending = await stack.query("select count(*)::int as n from destinatarios_mensaje where destinatario_id = 190 and entregado_en is null");
    expect(pending).toEqual([{ n: 12 }]);
    sender.socket.disconnect();
  });

  it("with GROUP_POLICY=members, only users registered through rooms may join", async () => {
    const edge = await stack.startEdge({ GROUP_POLICY: "members" });
    const { socket } = await connectUser(edge, 200);
    expect(await call(socket, "join_group", { group_id: 9100 })).toMatchObject({ status: "error", code: "NOT_A_MEMBER" });
    expect(await stack.query("select count(*)::int as n from chat_miembros_grupo where grupo_id = 9100")).toEqual([{ n: 0 }]);
    const rooms = createServiceClient(RoomsService, { baseUrl: stack.core.rooms.url });
    await rooms.joinGroup({ groupId: 9100n, userId: 200n });
    expect(await call(socket, "join_group", { group_id: 9100 })).toEqual({ status: "ok", group_id: "9100", user_id: "200" });
    socket.disconnect();
  });
});

describe("data and logs", () => {
  it("stores SQL-looking text verbatim", async () => {
    const edge = await stack.startEdge();
    const { socket } = await connectUser(edge, 210);
    const text = "'); DROP TABLE mensajes; -- \\\" OR 1=1; SELECT pg_sleep(10);";
    const ack = await call(socket, "send_message", { to: 211, message: text, type: "directo", client_msg_id: "x'); DELETE FROM mensajes; --" });
    expect(await stack.query("select contenido from mensajes where id = $1", [ack["mensaje_id"]])).toEqual([{ contenido: text }]);
    expect(await stack.query("select client_msg_id from mensajes_cliente where mensaje_id = $1", [ack["mensaje_id"]])).toEqual([{ client_msg_id: "x'); DELETE FROM mensajes; --" }]);
    socket.disconnect();
  });

  it("never logs message bodies, tokens or secrets", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const edge = await stack.startEdge({ SECRET_KEY: SECRET, AUTH_REQUIRED: "true" }, createLogger({ service: "edge", level: "trace", destination: sink }));
    const token = await hs256({ sub: "220" });
    const { socket } = await handshake(edge, { auth: { token } });
    const receiver = await handshake(edge, { auth: { token: await hs256({ sub: "221" }) } });
    const got = collect(receiver.socket as never, "receive_message");
    await call(socket as never, "send_message", { to: 221, message: "contenido-super-secreto-123", type: "directo" });
    await until(got, 1);
    await call(socket as never, "send_message", { to: "x", message: "otro-secreto-456", type: "directo" });
    // The tampered token must be refused (and, below, never logged).
    expect(await refusedWith(handshake(edge, { auth: { token: `${token}manipulado` } }))).toMatchObject({ code: "UNAUTHORIZED" });
    socket.disconnect();
    receiver.socket.disconnect();
    await edge.close();
    const all = lines.join("");
    expect(all).toContain("[SEND_MESSAGE]");
    for (const secret of ["contenido-super-secreto-123", "otro-secreto-456", token, `${token}manipulado`, SECRET]) expect(all).not.toContain(secret);
  });
});
