#!/usr/bin/env node
// Draws docs/img/operations-healthy.png and docs/img/operations-overloaded.png: the key series
// of the RedUP Chat dashboard during a bench run, as Prometheus recorded them.
//
//   bench/start-system.sh                      # the four servers, metrics on 9101-9103 and :5000
//   node scripts/operations-plots.mjs          # Prometheus + a steady run + an overload run + PNGs
//   (then stop the servers it printed)
//
// What it does: writes a scrape configuration for those servers (every 2 s, the jobs the rules
// expect, the rules loaded), starts Debian's `prometheus` (apt-get install prometheus) on a
// loopback port with its data in a temporary folder, runs the bench's direct scenario in open
// loop (healthy), then its overload scenario (3x a given maximum, then half of it), reads the
// series back with Prometheus's HTTP API (query_range), draws each run's charts as inline SVG
// in one page, and screenshots it with Chromium (playwright-core, CHROMIUM_PATH or
// /usr/bin/chromium). docs/img/operations-plots.json records the run: parameters, times, the
// machine, and the bench's own summaries. Options:
//   --steady-rate N (500)  --steady-seconds N (60)  --overload-max N (3000)  --overload-seconds N (40)
//   --after N (20)  --prometheus-port N (9095)  --edge URL (http://127.0.0.1:5000)  --out DIR (docs/img)
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: opts } = parseArgs({
  options: {
    "steady-rate": { type: "string", default: "500" },
    "steady-seconds": { type: "string", default: "60" },
    "overload-max": { type: "string", default: "3000" },
    "overload-seconds": { type: "string", default: "40" },
    after: { type: "string", default: "20" },
    "prometheus-port": { type: "string", default: "9095" },
    edge: { type: "string", default: "http://127.0.0.1:5000" },
    out: { type: "string", default: "docs/img" },
  },
});
const log = (line) => process.stdout.write(`${line}\n`);
const edge = new URL(opts.edge);
const promUrl = `http://127.0.0.1:${opts["prometheus-port"]}`;
// Prometheus scrapes every STEP seconds; an edge busy with an overload can take seconds to
// answer /metrics, so the timeout is the whole interval.
const STEP = 5;

// ---------------------------------------------------------------------------------------------
// Prometheus

async function ready(url, what, seconds = 60) {
  for (let i = 0; i < seconds * 4; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    await sleep(250);
  }
  throw new Error(`${what} did not answer at ${url}`);
}

function startPrometheus(dir) {
  const job = (name, port) => ({ job_name: `redup-${name}`, metrics_path: "/metrics", static_configs: [{ targets: [`127.0.0.1:${port}`] }] });
  const config = {
    global: { scrape_interval: `${STEP}s`, scrape_timeout: `${STEP}s`, evaluation_interval: `${STEP}s` },
    rule_files: [join(ROOT, "deploy/monitoring/prometheus/redup-chat.rules.yml")],
    scrape_configs: [job("rooms", 9101), job("messages", 9102), job("delivery", 9103), job("edge", Number(edge.port || 80))],
  };
  writeFileSync(join(dir, "prometheus.yml"), JSON.stringify(config, null, 2));
  const child = spawn(
    "prometheus",
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${opts["prometheus-port"]}`, "--log.level=warn"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  return child;
}

async function queryRange(expr, start, end, step = STEP) {
  const url = new URL("/api/v1/query_range", promUrl);
  url.search = new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(step) }).toString();
  const body = await (await fetch(url)).json();
  if (body.status !== "success") throw new Error(`${expr}: ${JSON.stringify(body)}`);
  return body.data.result.map((r) => ({ metric: r.metric, points: r.values.map(([t, v]) => [Number(t), Number(v)]).filter(([, v]) => Number.isFinite(v)) }));
}

/**
 * When a bench's load began, read from the edge's counter of answered sends: the first moment
 * more than `warmup` sends were answered after `from` (the scenario connects its users and,
 * for overload, sends one message per user to create the rooms before the load).
 */
async function loadStart(from, to, warmup) {
  const [series] = await queryRange('sum(redup_edge_events_total{event="send_message"})', from, to, 1);
  const points = series?.points ?? [];
  const base = points[0]?.[1] ?? 0;
  return points.find(([, v]) => v - base > warmup)?.[0] ?? from;
}

// ---------------------------------------------------------------------------------------------
// The bench

function bench(args) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "bench/dist/main.js"), "--url", edge.origin, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      // The last line is the bench's JSON summary.
      const json = out.trim().split("\n").at(-1);
      let summary;
      try {
        summary = JSON.parse(json ?? "null");
      } catch {
        summary = { output: out.slice(-2000) };
      }
      resolvePromise({ code, summary });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Charts

const R = "[15s]";
const CHARTS = [
  { title: "send_message ACKs by outcome (/s)", unit: "/s", queries: [{ expr: `sum by (outcome) (label_replace(rate(redup_edge_events_total{event="send_message"}${R}), "outcome", "saved", "outcome", "ok"))`, legend: (m) => m.outcome }] },
  {
    title: "send → ACK latency (s)",
    unit: "s",
    queries: [0.5, 0.99].map((q) => ({ expr: `histogram_quantile(${q}, sum by (le) (rate(redup_edge_event_duration_seconds_bucket{event="send_message"}${R})))`, legend: () => `p${q * 100}` })),
  },
  {
    title: "Edge: client events in progress",
    unit: "",
    queries: [
      { expr: "sum(redup_edge_pending_events)", legend: () => "in progress" },
      { expr: "sum(redup_edge_max_pending_events)", legend: () => "MAX_PENDING_EVENTS" },
      { expr: "sum(redup_edge_send_limit)", legend: () => "send limit" },
    ],
  },
  {
    title: "Work shed, by queue (/s)",
    unit: "/s",
    queries: [
      { expr: `sum by (queue) (rate(redup_edge_shed_total${R}))`, legend: (m) => `edge ${m.queue}` },
      { expr: `sum by (service, queue) (rate(redup_shed_total${R}))`, legend: (m) => `${m.service} ${m.queue}` },
    ],
  },
  {
    title: "Mean batch size (rows)",
    unit: "",
    queries: [
      { expr: `sum by (kind) (rate(redup_batch_size_sum{kind=~"store|dispatch"}${R})) / sum by (kind) (rate(redup_batch_size_count{kind=~"store|dispatch"}${R}))`, legend: (m) => m.kind },
      { expr: `sum(rate(redup_edge_send_batch_size_sum${R})) / sum(rate(redup_edge_send_batch_size_count${R}))`, legend: () => "edge SendMessages" },
    ],
  },
  {
    title: "Database pool (connections)",
    unit: "",
    queries: [
      { expr: 'sum by (service) (redup_db_pool_connections{state="total"}) - sum by (service) (redup_db_pool_connections{state="idle"})', legend: (m) => `in use ${m.service}` },
      { expr: 'sum by (service) (redup_db_pool_connections{state="waiting"})', legend: (m) => `waiting ${m.service}` },
    ],
  },
  { title: "Outbox backlog (entries)", unit: "", queries: [{ expr: "max(redup_outbox_backlog)", legend: () => "backlog" }, { expr: "max(redup_outbox_retrying)", legend: () => "retrying" }] },
  {
    title: "Event-loop lag p99 (s)",
    unit: "s",
    queries: [
      { expr: "redup_nodejs_eventloop_lag_p99_seconds", legend: (m) => m.service },
      { expr: "redup_edge_nodejs_eventloop_lag_p99_seconds", legend: () => "edge" },
    ],
  },
  {
    title: "CPU (cores)",
    unit: "",
    queries: [
      { expr: `rate(redup_process_cpu_seconds_total${R})`, legend: (m) => m.service },
      { expr: `rate(redup_edge_process_cpu_seconds_total${R})`, legend: () => "edge" },
    ],
  },
  {
    title: "Resident memory (MB)",
    unit: "MB",
    scale: 1 / 1e6,
    queries: [
      { expr: "redup_process_resident_memory_bytes", legend: (m) => m.service },
      { expr: "redup_edge_process_resident_memory_bytes", legend: () => "edge" },
    ],
  },
];

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const esc = (s) => String(s).replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]);
const fmt = (v) => (v === 0 ? "0" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : Math.abs(v) >= 0.01 ? v.toFixed(2) : v.toPrecision(2));

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/** One line chart as SVG: time (seconds since the window's start) against value. */
function chartSvg(chart, series, start, end, marks) {
  const W = 600;
  const H = 250;
  const L = 52;
  const T = 28;
  const Rm = 12;
  const B = 62;
  const pw = W - L - Rm;
  const ph = H - T - B;
  // A series that stayed at zero (a refusal code from an earlier run) is left out of the chart.
  const all = series;
  series = series.filter((s) => s.points.some(([, v]) => v !== 0));
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map(([, v]) => v))));
  const x = (t) => L + ((t - start) / (end - start)) * pw;
  const y = (v) => T + ph - (v / max) * ph;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="11">`];
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/><text x="${L}" y="17" font-size="13" font-weight="bold">${esc(chart.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(`<line x1="${L}" x2="${W - Rm}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/><text x="${L - 4}" y="${y(v) + 4}" text-anchor="end" fill="#555">${fmt(v)}</text>`);
  }
  const span = end - start;
  const tick = span > 150 ? 30 : span > 60 ? 15 : 10;
  for (let t = 0; t <= span; t += tick) parts.push(`<text x="${x(start + t)}" y="${T + ph + 14}" text-anchor="middle" fill="#555">${t}s</text>`);
  for (const mark of marks) {
    parts.push(`<line x1="${x(mark.t)}" x2="${x(mark.t)}" y1="${T}" y2="${T + ph}" stroke="#999" stroke-dasharray="4 3"/><text x="${x(mark.t) + 3}" y="${T + 10}" fill="#777" font-size="10">${esc(mark.label)}</text>`);
  }
  parts.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${T + ph}" stroke="#999"/><line x1="${L}" x2="${W - Rm}" y1="${T + ph}" y2="${T + ph}" stroke="#999"/>`);
  let lx = L;
  let ly = H - 30;
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    // A gap (no sample for a step or more) breaks the line.
    let d = "";
    let last;
    for (const [t, v] of s.points) {
      d += `${last !== undefined && t - last > STEP * 1.5 ? "M" : d ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
      last = t;
    }
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    const label = esc(s.label);
    const w = 22 + label.length * 7;
    if (lx + w > W - Rm) {
      lx = L;
      ly += 14;
    }
    parts.push(`<rect x="${lx}" y="${ly - 8}" width="10" height="3" fill="${color}"/><text x="${lx + 14}" y="${ly - 3}" fill="#333">${label}</text>`);
    lx += w;
  });
  if (series.length === 0) parts.push(`<text x="${L + pw / 2}" y="${T + ph / 2}" text-anchor="middle" fill="#999">${all.length > 0 ? "zero all along" : "no data"}</text>`);
  parts.push("</svg>");
  return parts.join("");
}

async function drawPage(window) {
  const svgs = [];
  for (const chart of CHARTS) {
    const series = [];
    for (const q of chart.queries) {
      for (const r of await queryRange(q.expr, window.start, window.end)) {
        series.push({ label: q.legend(r.metric) ?? "", points: r.points.map(([t, v]) => [t, v * (chart.scale ?? 1)]) });
      }
    }
    svgs.push(chartSvg(chart, series, window.start, window.end, window.marks));
  }
  return `<!doctype html><html><head><meta charset="utf-8"><style>
    body { margin: 0; padding: 16px; background: #f4f5f7; font-family: "DejaVu Sans", sans-serif; width: 1240px; }
    h1 { font-size: 18px; margin: 0 0 4px; } p { font-size: 12px; color: #444; margin: 0 0 12px; }
    .grid { display: grid; grid-template-columns: 600px 600px; gap: 12px; } svg { border: 1px solid #ddd; }
  </style></head><body><h1>${esc(window.title)}</h1><p>${esc(window.caption)}</p><div class="grid">${svgs.join("")}</div></body></html>`;
}

async function screenshot(pages) {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1272, height: 800 }, deviceScaleFactor: 1 });
    for (const { html, file } of pages) {
      await page.setContent(html, { waitUntil: "load" });
      await page.screenshot({ path: file, fullPage: true });
      log(`wrote ${file}`);
    }
  } finally {
    await browser.close();
  }
}

// ---------------------------------------------------------------------------------------------

const work = mkdtempSync(join(tmpdir(), "redup-plots-"));
let prometheus;
try {
  await ready(new URL("/readyz", edge).href, "the edge (start bench/start-system.sh first)", 10);
  prometheus = startPrometheus(work);
  await ready(`${promUrl}/-/ready`, "prometheus");
  // Every target up before the runs.
  for (let i = 0; i < 60; i++) {
    const up = await (await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('count(up{job=~"redup-.*"} == 1)')}`)).json();
    if (Number(up.data.result[0]?.value[1] ?? 0) === 4) break;
    await sleep(1000);
  }
  const now = () => Date.now() / 1000;
  await sleep(10_000);

  log(`healthy: direct open loop at ${opts["steady-rate"]} msgs/s for ${opts["steady-seconds"]} s`);
  const steadyStart = now();
  const steady = await bench(["--scenario", "direct", "--users", "200", "--rate", opts["steady-rate"], "--seconds", opts["steady-seconds"], "--drain", "10"]);
  const steadyEnd = now();
  await sleep(15_000);

  const max = Number(opts["overload-max"]);
  log(`overloaded: ${3 * max} msgs/s offered for ${opts["overload-seconds"]} s, then ${max / 2} for ${opts.after} s`);
  const overloadStart = now();
  // Room for every send of both phases: the bench stops at --max-messages (200,000 by default).
  const overload = await bench(["--scenario", "overload", "--max", String(max), "--seconds", opts["overload-seconds"], "--after", opts.after, "--drain", "10", "--max-messages", "1000000"]);
  const overloadEnd = now();
  await sleep(3 * STEP * 1000);

  const machine = `${cpus().length} cores shared with other work, load average ${loadavg()[0].toFixed(1)} at the end`;
  // Where each load really began (after connecting its users), to mark the phases.
  const steadyLoad = await loadStart(steadyStart, steadyEnd, 0);
  const overloadLoad = await loadStart(overloadStart, overloadEnd, 1.5 * 2000);
  const out = resolve(ROOT, opts.out);
  mkdirSync(out, { recursive: true });
  const pad = 10;
  const pages = [
    {
      file: join(out, "operations-healthy.png"),
      html: await drawPage({
        title: `Healthy: direct open loop, ${opts["steady-rate"]} msgs/s offered by 200 users for ${opts["steady-seconds"]} s`,
        caption: `bench/start-system.sh (one process per service, one edge), Prometheus scraping every ${STEP} s, rates over 15 s; ${machine}.`,
        start: steadyStart - pad,
        end: steadyEnd + pad,
        marks: [
          { t: steadyLoad, label: "load starts" },
          { t: steadyLoad + Number(opts["steady-seconds"]), label: "load stops" },
        ],
      }),
    },
    {
      file: join(out, "operations-overloaded.png"),
      html: await drawPage({
        title: `Overloaded: ${3 * max} msgs/s offered (3x a measured ${max}) for ${opts["overload-seconds"]} s, then ${max / 2} msgs/s for ${opts.after} s`,
        caption: `The overload is refused early (OVERLOADED, shed at the edge's and messages' queues) instead of queued; latency stays bounded and the system recovers at half load. ${machine}.`,
        start: overloadStart - pad,
        end: overloadEnd + pad,
        marks: [
          { t: overloadLoad, label: "3x offered" },
          { t: overloadLoad + Number(opts["overload-seconds"]), label: "half load" },
          { t: overloadLoad + Number(opts["overload-seconds"]) + Number(opts.after), label: "stop" },
        ],
      }),
    },
  ];
  await screenshot(pages);
  writeFileSync(
    join(out, "operations-plots.json"),
    `${JSON.stringify(
      {
        made_by: "node scripts/operations-plots.mjs",
        at: new Date().toISOString(),
        machine,
        options: opts,
        windows: { healthy: [steadyStart, steadyEnd], overloaded: [overloadStart, overloadEnd] },
        load_started: { healthy: steadyLoad, overloaded: overloadLoad },
        bench: { healthy: steady, overloaded: overload },
      },
      null,
      2,
    )}\n`,
  );
  log(`wrote ${join(out, "operations-plots.json")}`);
} finally {
  prometheus?.kill("SIGTERM");
  await sleep(500);
  rmSync(work, { recursive: true, force: true });
}
