/**
 * CI's smoke run of the bench: every scenario, small and short, against a real system (real
 * PostgreSQL and NATS, in-process servers). It checks that the bench works and that nothing
 * ACKed is lost — never how fast (figures live in BENCHMARKS.md).
 */
import { randomBytes } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@redup/kit/testing";
import { startSystem, type System } from "@redup/standalone";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildReport, formatReport } from "../src/report.js";
import { connections } from "../src/scenarios/connections.js";
import { direct } from "../src/scenarios/direct.js";
import { group } from "../src/scenarios/group.js";
import { reconnect } from "../src/scenarios/reconnect.js";
import { CpuWindow } from "../src/stats.js";

let db: TestDatabase;
let system: System;
let base: { urls: string[]; window: CpuWindow; seconds: number; maxMessages: number; userIdBase: number; drainSeconds: number };

beforeAll(async () => {
  db = await createTestDatabase("bench");
  system = await startSystem({
    DATABASE_URL: db.url,
    NATS_URL: process.env["TEST_NATS_URL"] || process.env["NATS_URL"] || "nats://127.0.0.1:4222",
    NATS_SUBJECT_PREFIX: `b${randomBytes(4).toString("hex")}`,
    HOST: "127.0.0.1",
    PORT: "0",
    ROOMS_PORT: "0",
    MESSAGES_PORT: "0",
    DELIVERY_PORT: "0",
    LOG_LEVEL: "silent",
    DEMO_PAGE: "false",
    RATE_LIMIT_EVENTS_PER_SEC: "100000",
    RATE_LIMIT_EVENT_BURST: "100000",
    RATE_LIMIT_USER_EVENTS_PER_SEC: "100000",
    RATE_LIMIT_USER_EVENT_BURST: "100000",
  });
  base = { urls: [system.edge.url], window: new CpuWindow(() => []), seconds: 2, maxMessages: 2000, userIdBase: 1000, drainSeconds: 20 };
});
afterAll(async () => {
  await system?.close();
  await db?.drop();
});

const report = (name: string, params: Record<string, unknown>, result: Parameters<typeof buildReport>[2]) => {
  const r = buildReport(name, params, result, undefined);
  process.stdout.write(`${formatReport(r)}\n`);
  return r;
};

describe("bench smoke", () => {
  it("direct, closed and open loop: everything ACKed is received", async () => {
    const closed = report("direct", {}, await direct({ ...base, userIdBase: 10_000, users: 10, rate: 0, inFlight: 4 }));
    expect(closed.ackedSaved).toBeGreaterThan(0);
    expect(closed.received).toBe(closed.ackedSaved);
    expect([closed.lost, closed.duplicates, closed.ackErrors, closed.outOfOrder]).toEqual([0, 0, 0, 0]);
    const open = report("direct", { rate: 50 }, await direct({ ...base, userIdBase: 20_000, users: 10, rate: 50, inFlight: 1 }));
    expect(open.ackedSaved).toBeGreaterThan(0);
    expect([open.lost, open.outOfOrder]).toEqual([0, 0]);
  });

  it("group: every member but the sender receives each message", async () => {
    const r = report("group", {}, await group({ ...base, userIdBase: 30_000, groups: 2, members: 5, rate: 20, senders: 1 }));
    expect(r.ackedSaved).toBeGreaterThan(0);
    expect(r.received).toBe(r.ackedSaved * 4);
    expect([r.lost, r.outOfOrder]).toEqual([0, 0]);
    const closed = report("group", { rate: 0 }, await group({ ...base, userIdBase: 35_000, groups: 2, members: 5, rate: 0, senders: 2 }));
    expect(closed.ackedSaved).toBeGreaterThan(0);
    expect(closed.received).toBe(closed.ackedSaved * 4);
    expect([closed.lost, closed.outOfOrder]).toEqual([0, 0]);
  });

  it("connections, reconnect storm and catch-up: no errors, every pending message caught up", async () => {
    const c = report("connections", {}, await connections({ ...base, userIdBase: 40_000, count: 100, seconds: 0 }));
    expect([c.connections, c.connectErrors]).toEqual([100, 0]);
    const storm = report("reconnect", {}, await reconnect({ ...base, userIdBase: 50_000, count: 30, pending: 2, spreadSeconds: 1 }));
    expect([storm.connections, storm.connectErrors]).toEqual([30, 0]);
    expect(storm.received).toBe(60);
    expect(storm.lost).toBe(0);
    const catchUp = report("catchup", {}, await reconnect({ ...base, userIdBase: 60_000, count: 1, pending: 100, spreadSeconds: 0 }));
    expect(catchUp.received).toBe(100);
    expect(catchUp.catchUpMs!.count).toBe(1);
  });
});
