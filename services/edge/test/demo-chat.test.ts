/**
 * The /demo chat in headless Chromium (Debian's package, driven by playwright-core): two
 * users, two pages, one conversation on the real stack, each user on an edge of their own.
 * Luis's page reaches his edge through a TCP proxy that the test cuts and restores, so his connection drops for real: the banner
 * shows, what Ana sends meanwhile arrives once when he is back, and what he sends while cut
 * is stored once. Two more users reach two edges through a TCP balancer and keep writing while
 * one of the edges dies. With DEMO_SCREENSHOTS=<dir> it also saves the PNGs used in docs/demo.md.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startTcpBalancer, startTcpProxy, type TcpProxy } from "@redup/kit/testing";
import { chromium, type Browser, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EdgeServer } from "../src/index.js";
import { call, connectUser, startStack, type Stack } from "./harness.js";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const SCREENSHOTS = process.env["DEMO_SCREENSHOTS"];
const ANA = "123";
const LUIS = "789";
const SEEDED = 35;
const WAIT = { timeout: 15_000 };

let stack: Stack;
let edge: EdgeServer;
let otherEdge: EdgeServer;
let proxy: TcpProxy;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is needed at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);
  // The page's bundle from the current source, as `npm run build` makes it.
  await build({ configFile: fileURLToPath(new URL("../demo/vite.config.ts", import.meta.url)), logLevel: "error" });
  stack = await startStack();
  edge = await stack.startEdge({ DEMO_PAGE: "true" });
  otherEdge = await stack.startEdge({ DEMO_PAGE: "true" });
  proxy = await startTcpProxy(otherEdge.port);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await stack?.close();
});

async function openAs(userId: string, origin: string): Promise<Page> {
  // A context per user, as two browsers would be: the page's storage (its outbox) is its own.
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  await page.goto(`${origin}/demo`);
  await page.fill("#user", userId);
  await page.click("#enter");
  await expect.poll(() => status(page), WAIT).toBe("online");
  return page;
}

const status = (page: Page) => page.getAttribute("#banner", "data-status");
const room = (peer: string) => `#inbox li[data-room="directo:${peer}"]`;
const badge = (page: Page, peer: string) => page.textContent(`${room(peer)} .badge`);
const texts = (page: Page) => page.$$eval("#messages .bubble .text", (nodes) => nodes.map((n) => n.textContent ?? ""));
const ids = (page: Page) => page.$$eval("#messages .bubble", (nodes) => nodes.map((n) => n.getAttribute("data-id")));
const stateOf = (page: Page, text: string) =>
  page.$$eval("#messages .bubble.mine", (nodes, wanted) => nodes.filter((n) => n.querySelector(".text")?.textContent === wanted).map((n) => n.getAttribute("data-state")), text);

async function send(page: Page, text: string) {
  await page.fill("#text", text);
  await page.click("#send");
}

async function screenshot(page: Page, name: string) {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, name) });
}

describe("the demo chat", () => {
  it("carries a conversation between two users across a cut connection", async () => {
    // An older conversation to scroll back through: more than one page of history.
    const { socket } = await connectUser(edge, ANA);
    for (let i = 1; i <= SEEDED; i++) await call(socket, "send_message", { to: LUIS, type: "directo", message: `mensaje ${i}`, client_msg_id: `seed-${i}` });
    socket.disconnect();

    const ana = await openAs(ANA, edge.url);
    const luis = await openAs(LUIS, `http://127.0.0.1:${proxy.port}`);
    await expect.poll(() => badge(luis, ANA), WAIT).toBe(String(SEEDED));

    // Ana opens the conversation and writes; Luis's page marks it delivered on arrival.
    await ana.click(room(LUIS));
    await expect.poll(async () => (await texts(ana)).at(-1), WAIT).toBe(`mensaje ${SEEDED}`);
    await expect.poll(() => ana.textContent("#presence"), WAIT).toBe("en línea");
    await send(ana, "Hola Luis, ¿qué tal?");
    await expect.poll(() => stateOf(ana, "Hola Luis, ¿qué tal?"), WAIT).toEqual(["delivered"]);
    await expect.poll(() => badge(luis, ANA), WAIT).toBe(String(SEEDED + 1));
    expect(await luis.textContent(`${room(ANA)} .preview`)).toBe("Hola Luis, ¿qué tal?");
    await screenshot(luis, "demo-chat-luis-inbox.png");

    // Luis opens it: the newest page shows, the badge clears, Ana's ticks turn to read.
    await luis.click(room(ANA));
    await expect.poll(async () => (await texts(luis)).at(-1), WAIT).toBe("Hola Luis, ¿qué tal?");
    expect(await texts(luis)).toHaveLength(30);
    await expect.poll(() => badge(luis, ANA), WAIT).toBe("");
    await expect.poll(() => stateOf(ana, "Hola Luis, ¿qué tal?"), WAIT).toEqual(["read"]);

    // Scrolling to the top loads the older messages, back to the first one.
    await luis.$eval("#messages", (m) => (m.scrollTop = 0));
    await expect.poll(() => texts(luis), WAIT).toHaveLength(SEEDED + 1);
    expect((await texts(luis)).slice(0, 2)).toEqual(["mensaje 1", "mensaje 2"]);
    await expect.poll(() => luis.textContent("#older"), WAIT).toBe("principio de la conversación");

    // Typing shows on the other side, and ends with the message.
    await luis.$eval("#messages", (m) => (m.scrollTop = m.scrollHeight));
    await luis.click("#text");
    await luis.keyboard.type("Todo bien", { delay: 20 });
    await expect.poll(() => ana.textContent("#typing"), WAIT).toBe(`Usuario ${LUIS} está escribiendo…`);
    await screenshot(ana, "demo-chat-ana.png");
    await luis.click("#send");
    await expect.poll(async () => (await texts(ana)).at(-1), WAIT).toBe("Todo bien");
    await expect.poll(() => ana.textContent("#typing"), WAIT).toBe("");
    await expect.poll(() => stateOf(luis, "Todo bien"), WAIT).toEqual(["read"]);

    // Luis's connection is cut: his banner says so, Ana sees him go offline.
    await proxy.cut();
    await expect.poll(() => status(luis), WAIT).toBe("reconnecting");
    expect(await luis.isVisible("#banner")).toBe(true);
    await expect.poll(() => ana.textContent("#presence"), WAIT).toMatch(/^últ. vez /);
    await send(luis, "Te escribo sin red");
    await send(ana, "¿Sigues ahí?");
    await expect.poll(() => stateOf(ana, "¿Sigues ahí?"), WAIT).toEqual(["sent"]);
    expect(await stateOf(luis, "Te escribo sin red")).toEqual(["pending"]);
    await screenshot(luis, "demo-chat-luis-reconnecting.png");

    // Back: each message arrives once, both ways, and is read at once (both have it open).
    await proxy.restore();
    await expect.poll(() => status(luis), WAIT).toBe("online");
    expect(await luis.isVisible("#banner")).toBe(false);
    await expect.poll(() => stateOf(ana, "¿Sigues ahí?"), WAIT).toEqual(["read"]);
    await expect.poll(() => stateOf(luis, "Te escribo sin red"), WAIT).toEqual(["read"]);
    await expect.poll(() => ana.textContent("#presence"), WAIT).toBe("en línea");
    // Once each, in the room's order: Ana's message was stored first, while Luis was away.
    for (const page of [ana, luis]) expect((await texts(page)).slice(-3)).toEqual(["Todo bien", "¿Sigues ahí?", "Te escribo sin red"]);
    await expect.poll(() => luis.textContent("#presence"), WAIT).toBe("en línea");
    expect(await texts(luis)).toHaveLength(SEEDED + 4);
    const stored = await stack.query("SELECT count(*)::int AS n FROM mensajes WHERE contenido = $1", ["Te escribo sin red"]);
    expect(stored).toEqual([{ n: 1 }]);
    await screenshot(ana, "demo-chat-ana-after.png");
    await screenshot(luis, "demo-chat-luis.png");
  }, 120_000);

  // The client library's cut and outbox scenarios (packages/client/test/cuts.test.ts,
  // outbox.test.ts), in the browser and through the page: a lost ACK, a cut in the middle of
  // many sends, and the outbox kept across closing the page.
  it("stores and shows each message once when an ACK is lost, the connection drops mid-burst, or the page is closed offline", async () => {
    const cuttable = await startTcpProxy(otherEdge.port);
    const ana = await openAs("301", edge.url);
    const luis = await openAs("302", `http://127.0.0.1:${cuttable.port}`);
    for (const [page, peer] of [[ana, "302"], [luis, "301"]] as const) {
      await page.fill("#start-id", peer);
      await page.click("#start-open");
      await expect.poll(() => page.textContent("#title"), WAIT).toBe(`Usuario ${peer}`);
    }

    // The request reaches the edge; the ACK never comes back. The retry after the reconnect
    // carries the same client_msg_id and is answered from the first store.
    cuttable.stall();
    await send(luis, "¿llegó?");
    await expect.poll(() => texts(ana), WAIT).toEqual(["¿llegó?"]);
    expect(await stateOf(luis, "¿llegó?")).toEqual(["pending"]);
    await cuttable.cut();
    await expect.poll(() => status(luis), WAIT).toBe("reconnecting");
    await cuttable.restore();
    await expect.poll(() => stateOf(luis, "¿llegó?"), WAIT).toEqual(["read"]);
    expect(await texts(luis)).toEqual(["¿llegó?"]);

    // A burst, cut part way: what was in flight or written meanwhile goes out after the restore.
    const burst = Array.from({ length: 12 }, (_, i) => `ráfaga ${i + 1}`);
    for (const [i, text] of burst.entries()) {
      if (i === 5) await cuttable.cut();
      if (i === 9) await cuttable.restore();
      await send(luis, text);
    }
    const expected = ["¿llegó?", ...burst];
    await expect.poll(() => texts(ana), WAIT).toEqual(expected);
    await expect.poll(() => luis.$$eval("#messages .bubble.mine", (nodes) => nodes.map((n) => n.getAttribute("data-state"))), WAIT).toEqual(expected.map(() => "read"));
    expect(await texts(luis)).toEqual(expected);
    const stored = await stack.query("SELECT contenido AS text, count(*)::int AS n FROM mensajes WHERE contenido = ANY($1) GROUP BY contenido ORDER BY min(id)", [expected]);
    expect(stored).toEqual(expected.map((text) => ({ text, n: 1 })));

    // The page keeps its outbox in localStorage: written while cut, the tab closed, opened
    // again once the network is back, the message goes out then, once.
    await cuttable.cut();
    await expect.poll(() => status(luis), WAIT).toBe("reconnecting");
    await send(luis, "escrito antes de cerrar");
    expect(await stateOf(luis, "escrito antes de cerrar")).toEqual(["pending"]);
    const context = luis.context();
    await luis.close();
    await cuttable.restore();
    const reopened = await context.newPage();
    await reopened.goto(`http://127.0.0.1:${cuttable.port}/demo?user=302`);
    await expect.poll(() => texts(ana), WAIT).toEqual([...expected, "escrito antes de cerrar"]);
    await reopened.click(room("301"));
    await expect.poll(() => stateOf(reopened, "escrito antes de cerrar"), WAIT).toEqual(["read"]);
    expect(await stack.query("SELECT count(*)::int AS n FROM mensajes WHERE contenido = $1", ["escrito antes de cerrar"])).toEqual([{ n: 1 }]);
    await cuttable.close();
    await ana.close();
    await reopened.close();
  }, 90_000);

  // The client library's balancer scenario (packages/client/test/balancer.test.ts) through
  // the page: each user's socket goes through the balancer to one of two edges, and the edge
  // holding one of them dies while both write.
  it("stores and shows every message once, in the room's order, when an edge dies behind the balancer", async () => {
    const [east, west] = [await stack.startEdge({ DEMO_PAGE: "true" }), await stack.startEdge({ DEMO_PAGE: "true" })];
    // Each edge behind a proxy of its own, so its death cuts its sockets at once, as a crash does.
    const [eastLink, westLink] = [await startTcpProxy(east.port), await startTcpProxy(west.port)];
    const balancer = await startTcpBalancer([eastLink.port, westLink.port]);
    const origin = `http://127.0.0.1:${balancer.port}`;
    const [A, B] = ["311", "312"];
    const holds = (edge: EdgeServer, user: string) => edge.context.fanout.socketsOf(user).size > 0;
    // On exactly one edge: a reloaded page's old socket may linger a moment on the other.
    const placed = (user: string) => holds(east, user) !== holds(west, user);
    const ana = await openAs(A, origin);
    const luis = await openAs(B, origin);
    await expect.poll(() => placed(A) && placed(B), WAIT).toBe(true);
    // The balancer alternates per TCP connection, and the page's own requests take turns too:
    // reload Luis's page until he is on the other edge, so the edge that dies holds one of them.
    for (let tries = 0; holds(east, A) === holds(east, B); tries++) {
      if (tries === 6) throw new Error("both users stayed on one edge");
      await luis.reload();
      await expect.poll(() => status(luis), WAIT).toBe("online");
      await expect.poll(() => placed(B), WAIT).toBe(true);
    }
    for (const [page, peer] of [[ana, B], [luis, A]] as const) {
      await page.fill("#start-id", peer);
      await page.click("#start-open");
      await expect.poll(() => page.textContent("#title"), WAIT).toBe(`Usuario ${peer}`);
      await expect.poll(() => page.textContent("#older"), WAIT).toBe("principio de la conversación");
    }

    const fromAna = Array.from({ length: 15 }, (_, i) => `ana ${i + 1}`);
    const fromLuis = Array.from({ length: 15 }, (_, i) => `luis ${i + 1}`);
    for (let i = 0; i < 15; i++) {
      if (i === 5) {
        await eastLink.cut();
        stack.edges.splice(stack.edges.indexOf(east), 1);
        await east.close();
      }
      await send(ana, fromAna[i]!);
      await send(luis, fromLuis[i]!);
    }

    // The user east held is back, on the edge that is left.
    await expect.poll(() => holds(west, A) && holds(west, B), WAIT).toBe(true);
    // Stored once each; both pages end up showing exactly the stored conversation, in its order.
    const all = [...fromAna, ...fromLuis];
    const storedInOrder = async () => (await stack.query("SELECT id::text, contenido FROM mensajes WHERE contenido = ANY($1) ORDER BY mensajes.id", [all])) as { id: string; contenido: string }[];
    await expect.poll(async () => (await storedInOrder()).length, { timeout: 30_000 }).toBe(all.length);
    const stored = await storedInOrder();
    expect(new Set(stored.map((m) => m.contenido))).toEqual(new Set(all));
    // Each user's own messages were stored in the order they were written.
    expect(stored.map((m) => m.contenido).filter((t) => t.startsWith("ana "))).toEqual(fromAna);
    expect(stored.map((m) => m.contenido).filter((t) => t.startsWith("luis "))).toEqual(fromLuis);
    for (const page of [ana, luis]) {
      await expect.poll(() => texts(page), { timeout: 30_000 }).toEqual(stored.map((m) => m.contenido));
      expect(await ids(page)).toEqual(stored.map((m) => m.id));
      // Every own message settled (no bubble left waiting for its ACK) and read by the other.
      await expect.poll(() => page.$$eval("#messages .bubble.mine", (nodes) => nodes.map((n) => n.getAttribute("data-state"))), WAIT).toEqual(Array(15).fill("read"));
    }
    await Promise.all([ana.close(), luis.close()]);
    await balancer.close();
    await Promise.all([eastLink.close(), westLink.close()]);
  }, 120_000);

  it("joins a group from the start form, shows who wrote each message, and applies edits and deletions", async () => {
    const ana = await openAs(ANA, edge.url);
    const luis = await openAs(LUIS, otherEdge.url);
    for (const page of [ana, luis]) {
      await page.selectOption("#start-type", "grupal");
      await page.fill("#start-id", "456");
      await page.click("#start-open");
      await expect.poll(() => page.textContent("#title"), WAIT).toBe("Grupo 456");
      await expect.poll(() => page.textContent("#older"), WAIT).toBe("principio de la conversación");
    }
    await send(ana, "Hola a todos");
    await expect.poll(() => luis.$$eval("#messages .bubble", (nodes) => nodes.map((n) => [n.querySelector(".from")?.textContent, n.querySelector(".text")?.textContent])), WAIT).toEqual([[`Usuario ${ANA}`, "Hola a todos"]]);
    await expect.poll(() => ana.textContent('#inbox li[data-room="grupal:456"] .preview'), WAIT).toBe("Tú: Hola a todos");
    await expect.poll(() => luis.textContent('#inbox li[data-room="grupal:456"] .preview'), WAIT).toBe(`${ANA}: Hola a todos`);

    // An edit and a deletion made elsewhere (another device of Ana's) show on both pages.
    const id = await ana.getAttribute("#messages .bubble.mine", "data-id");
    const { socket } = await connectUser(edge, ANA);
    await call(socket, "edit_message", { mensaje_id: id, message: "Hola a todas y todos" });
    for (const page of [ana, luis]) await expect.poll(() => texts(page), WAIT).toEqual(["Hola a todas y todos (editado)"]);
    await call(socket, "delete_message", { mensaje_id: id });
    for (const page of [ana, luis]) await expect.poll(() => texts(page), WAIT).toEqual(["mensaje eliminado"]);
    socket.disconnect();
    await ana.close();
    await luis.close();
  }, 60_000);
});
