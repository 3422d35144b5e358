// Drives the built-in console and the API reference in Debian's chromium
// (Playwright), as a user would, and prints what it saw as JSON for the Go
// test (cmd/gridmetrics/console_test.go), which checks it against the API.
// A step that fails throws: the script exits 1 with the reason on stderr.
//
//   node console.mjs            the tour of every view (below)
//   node console.mjs db-down    sign in while the database refuses
//                               connections: the API's error shows
//
// Environment:
//   CONSOLE_URL         the server, http://127.0.0.1:port
//   CONSOLE_KEY         an API key with every scope
//   CONSOLE_READ_KEY    an API key with the read scope only
//   CONSOLE_GRID        the src_… id of the site's grid meter (external id GRID-1)
//   CONSOLE_SITE        the site id
//   CONSOLE_GAP_SOURCE  the src_… id of a meter with a gap in its readings
//   CONSOLE_GAP_FROM, CONSOLE_GAP_TO   a period around that gap, as
//                       datetime-local values in UTC ("2026-11-20T10:00")
//   CONSOLE_OUT         the folder for screenshots
//   CHROMIUM            the chromium executable
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const scenario = process.argv[2] ?? "tour";
const base = env("CONSOLE_URL");
const key = env("CONSOLE_KEY");
const out = env("CONSOLE_OUT");
mkdirSync(out, { recursive: true });

const seen = { requests: [], energy: {}, cost: {}, session: {}, docs: {} };
const problems = [];
// Generous: make test runs this beside every other package under -race.
const timeout = 45_000;

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  // Chromium's sandbox refuses to start as root, which CI runs as.
  args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
});

// watch records every request a page makes, and every script error and
// console error (a Content-Security-Policy violation is one), but the
// failed loads the scenario provokes on purpose.
function watch(page, expectedStatus = []) {
  page.on("request", (r) => seen.requests.push(r.url()));
  page.on("framenavigated", (f) => seen.requests.push(f.url()));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    if (expectedStatus.some((s) => text.includes(`status of ${s}`))) return;
    problems.push(`console error: ${text}`);
  });
}

async function shot(page, name) {
  await page.screenshot({ path: join(out, name + ".png"), fullPage: true });
}

async function step(name, fn) {
  try {
    await fn();
    // The address bar, which history.pushState changes without a request.
    for (const p of context.pages()) seen.requests.push(p.url());
  } catch (e) {
    throw new Error(`${name}: ${e.message}`);
  }
}

// rows reads an energy or cost table: what the user sees, with the API's
// raw numbers kept in data- attributes beside the formatted text.
async function energyRows(page) {
  return page.$$eval("table.energy tbody tr", (trs) =>
    trs.map((tr) => ({
      start: tr.dataset.start,
      kwh: tr.querySelector("[data-kwh]")?.dataset.kwh ?? "",
      quality: tr.dataset.quality,
    })),
  );
}

// waitEnergy runs act, waits for the energy request it causes and for the
// table drawn from its answer, and returns the request's URL and the rows.
async function waitEnergy(page, act, match) {
  const [req] = await Promise.all([
    page.waitForRequest((r) => r.url().includes("/energy?") && match(r.url()), { timeout }),
    act(),
  ]);
  const resp = await req.response();
  if (!resp || resp.status() !== 200) throw new Error(`${req.url()} answered ${resp?.status()}`);
  await page.waitForFunction(() => !document.querySelector("#panel-energy .status")?.textContent?.startsWith("Loading"), null, { timeout });
  return { url: req.url(), rows: await energyRows(page), canvas: await page.locator("#panel-energy .chart canvas").count() };
}

const context = await browser.newContext({ timezoneId: "UTC", locale: "en-GB", viewport: { width: 1400, height: 1000 } });
const page = await context.newPage();

if (scenario === "db-down") {
  watch(page, [500, 503]);
  await step("sign in while the database is down", async () => {
    await page.goto(base + "/", { waitUntil: "load" });
    await page.getByLabel("API key").fill(key);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().includes("/v1/sources?"), { timeout }),
      page.getByRole("button", { name: "Sign in" }).click(),
    ]);
    const err = page.locator("#signin-error");
    await err.waitFor({ state: "visible", timeout });
    seen.dbDownError = await err.textContent();
    seen.dbDownAnswer = { status: resp.status(), body: await resp.json() };
    await shot(page, "11-database-down");
  });
} else {
  await tour();
}
await browser.close();
seen.problems = problems;
process.stdout.write(JSON.stringify(seen) + "\n");

async function tour() {
  const readKey = env("CONSOLE_READ_KEY");
  const grid = env("CONSOLE_GRID");
  const site = env("CONSOLE_SITE");
  const gapSource = env("CONSOLE_GAP_SOURCE");
  watch(page, [401]);

  await step("a wrong key is refused with the API's message", async () => {
    await page.goto(base + "/", { waitUntil: "load" });
    await page.getByLabel("API key").fill("gm_000000000000_" + "0".repeat(40));
    await page.getByRole("button", { name: "Sign in" }).click();
    const err = page.locator("#signin-error");
    await err.waitFor({ state: "visible", timeout });
    seen.badKeyError = await err.textContent();
    if (!(await page.evaluate(() => sessionStorage.length === 0))) throw new Error("a refused key was stored");
    await shot(page, "01-bad-key");
  });

  await step("sign in", async () => {
    await page.getByLabel("API key").fill(key);
    await page.getByLabel("API key").press("Enter");
    await page.getByRole("tab", { name: "Overview" }).waitFor({ timeout });
    const stored = await page.evaluate(() => Object.values(sessionStorage));
    if (!stored.includes(key)) throw new Error("the key is not in sessionStorage");
    if (await page.evaluate(() => localStorage.length) !== 0) throw new Error("something went to localStorage");
  });

  await step("sites, sources and latest values refresh themselves", async () => {
    const row = page.locator('tr[data-source="GRID-1"]');
    await row.locator('li[data-metric="power_import"]').waitFor({ timeout });
    seen.sources = await page.$$eval("table.sources tbody tr", (trs) => trs.map((tr) => tr.dataset.source));
    seen.sites = await page.$$eval('select[name="site"] option', (os) => os.map((o) => o.value));
    await page.evaluate(() => (window.stillTheSamePage = true));
    const value = 4242.4;
    const at = new Date().toISOString();
    const r = await fetch(base + "/v1/readings", {
      method: "POST",
      headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
      body: JSON.stringify({ readings: [{ source: "GRID-1", metric: "power_import", time: at, value, unit: "W" }] }),
    });
    if (r.status !== 200) throw new Error(`ingest: ${r.status} ${await r.text()}`);
    await row.locator(`li[data-metric="power_import"][data-value="${value}"]`).waitFor({ timeout });
    if (!(await page.evaluate(() => window.stillTheSamePage === true))) throw new Error("the page reloaded");
    seen.live = { value, time: await row.locator('li[data-metric="power_import"]').getAttribute("data-time") };
    await shot(page, "02-overview");
  });

  const energy = page.locator("#panel-energy");
  const label = (panel, text) => panel.getByLabel(text, { exact: true });

  await step("energy chart of a source, its bucket and zone pickers", async () => {
    const first = await waitEnergy(
      page,
      () => page.locator('tr[data-source="GRID-1"]').getByRole("button", { name: "Energy chart" }).click(),
      (u) => u.includes(`/sources/${grid}/energy`),
    );
    const daily = await waitEnergy(page, () => label(energy, "Bucket").selectOption("1d"), (u) => u.includes("bucket=1d"));
    const utc = await waitEnergy(page, () => label(energy, "Time zone").selectOption("UTC"), (u) => u.includes("tz=UTC") && u.includes("bucket=1d"));
    seen.energy.source = { first, daily, utc };
    await shot(page, "03-energy-source");
  });

  await step("energy chart of the site", async () => {
    seen.energy.site = await waitEnergy(page, () => label(energy, "Site or source").selectOption("site:" + site), (u) => u.includes(`/sites/${site}/energy`));
    await shot(page, "04-energy-site");
  });

  await step("a gap shows", async () => {
    await label(energy, "Bucket").selectOption("15m");
    await label(energy, "From").fill(env("CONSOLE_GAP_FROM"));
    await label(energy, "To").fill(env("CONSOLE_GAP_TO"));
    seen.energy.gap = await waitEnergy(
      page,
      () => label(energy, "Site or source").selectOption("source:" + gapSource),
      (u) => u.includes(`/sources/${gapSource}/energy`) && u.includes("bucket=15m"),
    );
    seen.energy.gapStatus = await page.locator("#panel-energy .status").textContent();
    await shot(page, "05-energy-gap");
  });

  await step("cost per day with its itemised lines", async () => {
    const panel = page.locator("#panel-cost");
    const [req] = await Promise.all([
      page.waitForRequest((r) => r.url().includes(`/sources/${grid}/cost?`) || r.url().includes("/cost?"), { timeout }),
      page.getByRole("tab", { name: "Cost" }).click(),
    ]);
    await req.response();
    const [byDay] = await Promise.all([
      page.waitForRequest((r) => r.url().includes(`/sources/${grid}/cost?`) && r.url().includes("bucket=day"), { timeout }),
      label(panel, "Site or source").selectOption("source:" + grid),
    ]);
    await byDay.response();
    const firstRow = panel.locator("table.cost tbody tr[data-start]").first();
    await firstRow.waitFor({ timeout });
    await firstRow.getByRole("button", { name: /lines/ }).click();
    const line = panel.locator("tr.lines:not([hidden]) tr.line").first();
    await line.waitFor({ timeout });
    seen.cost = {
      url: byDay.url(),
      buckets: await panel.locator("table.cost tbody tr[data-start]").evaluateAll((trs) =>
        trs.map((tr) => ({ start: tr.dataset.start, total: tr.querySelector("[data-total]")?.dataset.total }))),
      firstLine: await line.textContent(),
      lines: await panel.locator("tr.lines:not([hidden]) tr.line").count(),
    };
    await shot(page, "06-cost");
  });

  await step("sessions with a CDR and its signature state", async () => {
    const panel = page.locator("#panel-sessions");
    await page.getByRole("tab", { name: "Sessions" }).click();
    const row = panel.locator("tr[data-session]").first();
    await row.waitFor({ timeout });
    seen.session.listed = await panel.locator("tr[data-session]").count();
    seen.session.id = await row.getAttribute("data-session");
    await row.getByRole("button", { name: "Details and CDR" }).click();
    const cdr = panel.locator("pre.cdr");
    await cdr.waitFor({ timeout });
    seen.session.cdr = JSON.parse(await cdr.textContent());
    seen.session.signature = await panel.locator("[data-signature]").getAttribute("data-signature");
    seen.session.lines = await panel.locator(".detail tr.line").count();
    await shot(page, "07-session");
  });

  await step("rollup status", async () => {
    await page.getByRole("tab", { name: "Rollups" }).click();
    await page.locator("#panel-rollups tr[data-tier]").first().waitFor({ timeout });
    seen.rollupTiers = await page.$$eval("#panel-rollups tr[data-tier]", (trs) => trs.map((tr) => tr.dataset.tier));
    await shot(page, "08-rollups");
  });

  await step("the keyboard moves between tabs", async () => {
    await page.getByRole("tab", { name: "Rollups" }).focus();
    await page.keyboard.press("Home");
    const selected = await page.locator('[role="tab"][aria-selected="true"]').textContent();
    if (selected !== "Overview") throw new Error(`Home selected ${selected}`);
  });

  await step("sign out", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").waitFor({ timeout });
    seen.storageAfterSignOut = await page.evaluate(() => sessionStorage.length);
    seen.tabsAfterSignOut = await page.locator('[role="tab"]').count();
  });

  // A key without the admin and billing scopes: the views say why they are empty.
  await step("a read-only key sees why rollups and sessions are refused", async () => {
    const ro = await context.newPage();
    watch(ro, [403]);
    await ro.goto(base + "/", { waitUntil: "load" });
    await ro.getByLabel("API key").fill(readKey);
    await ro.getByRole("button", { name: "Sign in" }).click();
    await ro.getByRole("tab", { name: "Rollups" }).click();
    const err = ro.locator("#panel-rollups .error");
    await err.waitFor({ state: "visible", timeout });
    seen.rollupsWithoutAdmin = await err.textContent();
    await ro.getByRole("tab", { name: "Sessions" }).click();
    const serr = ro.locator("#panel-sessions .error");
    await serr.waitFor({ state: "visible", timeout });
    seen.sessionsWithoutBilling = await serr.textContent();
    await shot(ro, "09-read-only-key");
    await ro.close();
  });

  await step("the API reference", async () => {
    const docs = await context.newPage();
    watch(docs, [404]);
    const spec = await fetch(base + "/v1/openapi.json");
    seen.docs.openapiStatus = spec.status;
    await docs.goto(base + "/docs", { waitUntil: "load" });
    if (spec.status === 200) {
      const doc = await spec.json();
      await docs.locator(".swagger-ui .opblock").first().waitFor({ timeout });
      seen.docs.title = (await docs.locator(".swagger-ui .info .title").textContent())?.trim();
      seen.docs.specTitle = doc.info?.title;
      seen.docs.operations = await docs.locator(".swagger-ui .opblock").count();
      // "Try it out" goes to this server.
      seen.docs.server = await docs.locator(".swagger-ui .servers select").inputValue();
    } else {
      seen.docs.error = await docs.getByRole("alert").textContent({ timeout });
    }
    await shot(docs, "10-docs");
    await docs.close();
  });
}
