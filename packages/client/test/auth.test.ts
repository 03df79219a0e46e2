/**
 * JWT handshakes: a token the edge refuses, or one that expires on an open connection, is
 * replaced through `refreshToken` and the client comes back online; without a way to refresh
 * it stays offline with the refusal's code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { waitFor } from "@redup/kit/testing";
import type { EdgeServer } from "@redup/edge";
import { collect, online, startStack, type Stack } from "./stack.js";

const SECRET = "client-tests-secret-at-least-32-characters";
const token = (sub: string, expiresIn: string | number) =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime(expiresIn).sign(new TextEncoder().encode(SECRET));

let stack: Stack;
let edge: EdgeServer;

beforeAll(async () => {
  stack = await startStack();
  edge = await stack.startEdge({ SECRET_KEY: SECRET, AUTH_REQUIRED: "true" });
});
afterAll(async () => {
  await stack?.close();
});

describe("token refresh", () => {
  it("replaces a refused token and connects", async () => {
    let refreshes = 0;
    const ana = stack.client(edge.port, {
      auth: { token: await token("401", Math.floor(Date.now() / 1000) - 60) },
      refreshToken: async () => {
        refreshes++;
        return token("401", "5m");
      },
    });
    await online(ana);
    expect(refreshes).toBe(1);
    expect(ana.userId).toBe("401");
  });

  it("replaces a token that expires on an open connection, and keeps sending", async () => {
    let refreshes = 0;
    const ana = stack.client(edge.port, {
      auth: { token: await token("411", "2s") },
      refreshToken: async () => {
        refreshes++;
        return token("411", "5m");
      },
    });
    const states = collect(ana, "state");
    const errors = collect(ana, "error");
    await online(ana);
    await waitFor(() => refreshes === 1 && ana.state.status === "online", 10_000, "the expiry and the refresh");
    expect(errors[0]).toMatchObject({ event: "connection", code: "UNAUTHORIZED" });
    expect(states.map((s) => s.status)).toEqual(["online", "reconnecting", "online"]);
    expect(await ana.send({ to: "412", type: "directo", message: "sigo aquí" })).toMatchObject({ saved_to_db: true, sender_id: "411" });
  });

  it("without refreshToken, stays offline with the refusal's code", async () => {
    const ana = stack.client(edge.port, { auth: { token: "no-es-un-jwt" } });
    await waitFor(() => ana.state.status === "offline", 10_000, "offline");
    expect(ana.state).toEqual({ status: "offline", reason: "UNAUTHORIZED" });
  });
});
