/**
 * The /demo/tester page in headless Chromium (Debian's package, driven by playwright-core): two
 * pages, two users, a message each way and a group message, asserted in the DOM. And the
 * protocol reference at /docs/, rendered, with the AsyncAPI document as written.
 */
import { existsSync, readFileSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EdgeServer } from "../src/index.js";
import { startStack, type Stack } from "./harness.js";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

let stack: Stack;
let edge: EdgeServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is needed at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);
  stack = await startStack();
  edge = await stack.startEdge({ DEMO_PAGE: "true" });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function openAs(userId: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${edge.url}/demo/tester`);
  await page.fill("#user", userId);
  await page.click("#connect");
  await expect.poll(() => page.textContent("#status"), { timeout: 10_000 }).toBe(`conectado como ${userId}`);
  return page;
}

async function send(page: Page, type: "directo" | "grupal", to: string, text: string) {
  await page.selectOption("#type", type);
  await page.fill("#to", to);
  await page.fill("#text", text);
  await page.click("#send");
}

const items = (page: Page, list: string) => page.$$eval(`#${list} li`, (lis) => lis.map((li) => li.textContent ?? ""));

describe("the protocol tester at /demo/tester", () => {
  it("shows ACKs, messages both ways, a group message and delivery receipts", async () => {
    const ana = await openAs("123");
    const luis = await openAs("789");

    await send(ana, "directo", "789", "Hola, ¿cómo estás?");
    await expect.poll(() => items(luis, "incoming"), { timeout: 10_000 }).toEqual([expect.stringContaining("123 → 789 [directo/texto] Hola, ¿cómo estás?")]);
    await expect.poll(() => items(ana, "acks")).toEqual([expect.stringMatching(/^guardado #\d+ → 789 \(directo\)$/)]);
    // Luis's page marks it delivered; Ana's page shows the receipt.
    await expect.poll(() => items(ana, "receipts"), { timeout: 10_000 }).toEqual([expect.stringMatching(/^#\d+ entregado a 789$/)]);

    await send(luis, "directo", "123", "¡Hola! Todo bien, ¿y tú?");
    await expect.poll(() => items(ana, "incoming"), { timeout: 10_000 }).toEqual([expect.stringContaining("789 → 123 [directo/texto] ¡Hola! Todo bien, ¿y tú?")]);

    for (const page of [ana, luis]) {
      await page.fill("#group", "456");
      await page.click("#join");
      await expect.poll(() => items(page, "receipts"), { timeout: 10_000 }).toContain("unido al grupo 456");
    }
    await send(ana, "grupal", "456", "Hola a todos!");
    await expect.poll(() => items(luis, "incoming"), { timeout: 10_000 }).toContainEqual(expect.stringContaining("123 → 456 [grupal/texto] Hola a todos!"));

    // A refusal shows in the page's error list, as text (not HTML).
    await send(ana, "directo", "789", "<img src=x onerror=alert(1)>");
    await expect.poll(() => items(luis, "incoming"), { timeout: 10_000 }).toContainEqual(expect.stringContaining("<img src=x onerror=alert(1)>"));
    expect(await luis.$$("#incoming img")).toHaveLength(0);
    await send(ana, "directo", "", "sin destinatario");
    await expect.poll(() => items(ana, "errors"), { timeout: 10_000 }).toEqual([expect.stringContaining("send_message: INVALID_ID")]);
  });

  it("is off when DEMO_PAGE=false", async () => {
    const off = await stack.startEdge({ DEMO_PAGE: "false" });
    for (const path of ["/demo", "/demo/tester", "/demo/chat.js"]) expect((await fetch(`${off.url}${path}`)).status).toBe(404);
    expect((await fetch(`${off.url}/socket.io/socket.io.js`)).status).not.toBe(200);
  });
});

describe("the protocol reference at /docs", () => {
  it("renders docs/protocol.md with working anchors and serves the AsyncAPI document as written", async () => {
    const page = await browser.newPage();
    const response = await page.goto(`${edge.url}/docs`);
    expect(response?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe("/docs/");
    expect(await page.title()).toBe("The RedUP Chat Socket.IO protocol");
    // Every section the reference links to is there, with the anchor GitHub would give it.
    expect(await page.textContent("h3#send_message")).toBe("send_message");
    expect(await page.textContent("h2#error-codes")).toBe("Error codes");
    expect(await page.$$eval("table tr td:first-child code", (cells) => cells.map((c) => c.textContent))).toContain("USER_ID_REQUIRED");
    await page.click('a[href="#receive_message"]');
    expect(new URL(page.url()).hash).toBe("#receive_message");
    // The raw documents, exactly as in the repository.
    expect(await page.$eval('nav a[href="asyncapi.yaml"]', (a) => a.getAttribute("href") && new URL(a.getAttribute("href")!, a.baseURI).href)).toBe(`${edge.url}/docs/asyncapi.yaml`);
    const asyncapi = await fetch(`${edge.url}/docs/asyncapi.yaml`);
    expect(asyncapi.headers.get("content-type")).toBe("application/yaml; charset=utf-8");
    expect(await asyncapi.text()).toBe(readFileSync(new URL("../../../docs/asyncapi.yaml", import.meta.url), "utf8"));
    const markdown = await fetch(`${edge.url}/docs/protocol.md`);
    expect(await markdown.text()).toBe(readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8"));
    expect((await fetch(`${edge.url}/docs/nothing`)).status).toBe(404);
    await page.close();
  });
});
