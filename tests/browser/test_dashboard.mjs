// The dashboard in a real browser (issue 21, points 4 and 5): Debian's chromium driven by
// puppeteer-core against the demo `npm start` serves (the built worker, seeded drift, one run).
//
//   node tests/browser/test_dashboard.mjs OUT.json   (writes {"passed": n, "failed": m, "tests": [...]})
//
// It starts the demo on a free port with its own folder (.tmp/browser-demo, `--reset --seed`),
// waits for demo.json to be complete, then walks the dashboard as a user: sign-in by key and by
// e-mailed link, the seeded incidents, a repair approved after step-up and verified, the ledger,
// a key revoked in another tab, a cross-site form post, markup and `javascript:` URLs planted in
// every value it can reach, no secret in browser storage, another org's incident as "Not found",
// the security headers of every page, console errors, and an axe-core scan of every page.
// Screenshots of the main pages go to .tmp/screenshots/. Ctrl-C (SIGINT) stops the demo.
//
// env: PR_BROWSER_SEED (default 42), CHROMIUM (default /usr/bin/chromium),
//      PR_BROWSER_REUSE=1 (use a demo already running: PR_BROWSER_URL and PR_DEMO_DIR).
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const OUT = process.argv[2];
const SEED = process.env.PR_BROWSER_SEED || "42";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const DEMO_DIR = process.env.PR_BROWSER_REUSE ? process.env.PR_DEMO_DIR : path.join(ROOT, ".tmp", "browser-demo");
const SHOTS = path.join(ROOT, ".tmp", "screenshots");
const OWNER = "owner@demo-saas.test";
const XSS = `<img src=x onerror=alert(1)> javascript:alert(1) <script>alert(1)</script>`;

const results = [];
const times = {};
const axeSummary = { pages: 0, byImpact: { critical: 0, serious: 0, moderate: 0, minor: 0 }, details: [] };
const consoleLog = []; // every console error / page error seen: {tab, text, url, phase}
const dialogs = []; // every JavaScript dialog (alert/confirm/prompt) any page opened
const docHeaders = []; // every document response from the worker: {url, status, headers}
// Console lines a step provokes on purpose: Chromium logs every fetch answered 4xx as a console
// error ("Failed to load resource: … status of 404"). Each is allowed for one phase, one status
// and one URL pattern, with the reason; everything else fails the run.
const expected = [];
const expect4xx = (status, url, reason) => expected.push({ phase, status, url, reason });
const allowedBy = (c) => expected.find((x) => x.phase === c.phase && c.text.includes(`status of ${x.status} `) && x.url.test(c.url));
let phase = "setup";
let W; // the worker's origin, http://127.0.0.1:PORT
let demo; // {key, owner_live_key, project_id, ...}

// ---------------------------------------------------------------------------------------------
// small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function until(what, fn, ms = 15_000, step = 100) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(step);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The JSON API with a bearer key (no browser): the ground truth the pages are held to. */
async function call(method, url, key, body) {
  const headers = { accept: "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(W + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch {}
  return { status: r.status, json, text };
}
async function ok(method, url, key, body) {
  const r = await call(method, url, key, body);
  assert(r.status >= 200 && r.status < 300, `${method} ${url}: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}
async function all(url, key) {
  const out = [];
  let cursor = null;
  do {
    const sep = url.includes("?") ? "&" : "?";
    const r = await ok("GET", `${url}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, key);
    out.push(...r.data);
    cursor = r.next_cursor;
  } while (cursor);
  return out;
}

async function scenario(name, fn) {
  phase = name;
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, error: null });
    console.log(`ok     ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push({ name, error: e });
    console.log(`FAILED ${name}\n${e && e.stack ? e.stack : e}`);
  }
}

// ---------------------------------------------------------------------------------------------
// the demo

let demoProc = null;

async function startDemo() {
  if (process.env.PR_BROWSER_REUSE) {
    W = process.env.PR_BROWSER_URL;
    demo = JSON.parse(fs.readFileSync(path.join(DEMO_DIR, "demo.json"), "utf8"));
    return;
  }
  const port = await freePort();
  W = `http://127.0.0.1:${port}`;
  fs.mkdirSync(DEMO_DIR, { recursive: true });
  // As a user's shell: without the variables npm test exports for its own servers.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^PR_(PG|STRIPE|VERIFY)_/.test(k) && k !== "PR_DEMO_T0_MS"));
  Object.assign(env, { PORT: String(port), PR_DEMO_DIR: DEMO_DIR });
  const log = fs.openSync(path.join(DEMO_DIR, "..", "browser-demo.log"), "w");
  const t0 = Date.now();
  // Its own process group, so SIGINT reaches npm, the demo script and what it started, as
  // Ctrl-C in a terminal does.
  demoProc = spawn("npm", ["start", "--silent", "--", "--reset", "--seed", SEED], { cwd: ROOT, env, detached: true, stdio: ["ignore", log, log] });
  let exited = null;
  demoProc.on("exit", (code, sig) => (exited = code ?? sig));
  const state = path.join(DEMO_DIR, "demo.json");
  const logFile = path.join(DEMO_DIR, "..", "browser-demo.log");
  const end = Date.now() + 900_000;
  for (;;) {
    if (exited !== null) throw new Error(`npm start ended (${exited}):\n${fs.readFileSync(logFile, "utf8").slice(-3000)}`);
    if (Date.now() > end) throw new Error(`the demo did not serve within 900 s:\n${fs.readFileSync(logFile, "utf8").slice(-3000)}`);
    let d = null;
    try { d = JSON.parse(fs.readFileSync(state, "utf8")); } catch {}
    if (d && d.complete && fs.readFileSync(logFile, "utf8").includes("Ctrl-C stops it")) { demo = d; break; }
    await sleep(500);
  }
  times.demo_start_s = +((Date.now() - t0) / 1000).toFixed(1);
}

async function stopDemo() {
  if (!demoProc || demoProc.exitCode !== null) return;
  const gone = new Promise((r) => demoProc.once("exit", r));
  const group = (sig) => { try { process.kill(-demoProc.pid, sig); } catch {} };
  // Ctrl-C as in a terminal; SIGTERM if SIGINT is ignored (a shell that started this test in the
  // background); SIGKILL as the last resort.
  group("SIGINT");
  const t1 = setTimeout(() => group("SIGTERM"), 30_000);
  const t2 = setTimeout(() => group("SIGKILL"), 90_000);
  await gone;
  clearTimeout(t1);
  clearTimeout(t2);
  await until("the worker's port to close", async () => {
    try { await fetch(`${W}/healthz`); return false; } catch { return true; }
  }, 30_000, 200).catch(() => {});
}

/** Byte length of the worker's log now: links mailed later are read from there on. */
const logMark = () => fs.statSync(path.join(DEMO_DIR, "wrangler.log")).size;

/** The newest e-mail link (`…/signin/email#token=…`) to `to` written to the worker's log after
 * `mark` (with no RESEND_API_KEY the worker logs each e-mail as one JSON line). */
async function mailedLink(to, mark) {
  return until(`an e-mail to ${to} in the worker log`, () => {
    const buf = fs.readFileSync(path.join(DEMO_DIR, "wrangler.log"));
    const text = buf.subarray(mark).toString("utf8");
    let found = null;
    for (const line of text.split("\n")) {
      const i = line.indexOf("{");
      if (i < 0 || !line.includes("signin/email#token=")) continue;
      let mail;
      try { mail = JSON.parse(line.slice(i)); } catch { continue; }
      const blob = JSON.stringify(mail);
      if (!blob.includes(to)) continue;
      const m = blob.match(/(https?:\/\/[^\s"\\]+\/signin\/email#token=[0-9A-Za-z]+)/);
      if (m) found = m[1];
    }
    return found;
  }, 20_000, 200);
}

// ---------------------------------------------------------------------------------------------
// the browser

let browser;
let axeSource;

function watch(page, tab) {
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const loc = m.location() || {};
    consoleLog.push({ tab, phase, text: m.text(), url: loc.url || "" });
  });
  page.on("pageerror", (e) => consoleLog.push({ tab, phase, text: `pageerror: ${e && e.message ? e.message : e}`, url: "" }));
  page.on("dialog", async (d) => {
    dialogs.push({ tab, phase, type: d.type(), message: d.message() });
    await d.dismiss().catch(() => {});
  });
  page.on("response", (r) => {
    if (r.request().resourceType() === "document" && r.url().startsWith(W)) {
      docHeaders.push({ url: r.url(), status: r.status(), headers: r.headers() });
    }
  });
  return page;
}

async function newTab(context, tab) {
  const page = watch(await context.newPage(), tab);
  await page.setViewport({ width: 1280, height: 900 });
  // The machine is shared (builds run beside the test): a navigation may wait on a busy worker.
  page.setDefaultNavigationTimeout(90_000);
  page.setDefaultTimeout(60_000);
  return page;
}

const text = (page, sel = "body") => page.$eval(sel, (e) => e.innerText);
const h1 = (page) => page.$eval("#view h1", (e) => e.textContent).catch(() => "");

/** Waits for the page's heading to match and the page to settle (no request in flight). */
async function settled(page, heading, ms = 15_000) {
  await until(`heading ${heading}`, async () => {
    const t = await h1(page);
    return heading instanceof RegExp ? heading.test(t) : t === heading;
  }, ms).catch(async (e) => {
    throw new Error(`${e.message}; the page at ${page.url()} shows: ${(await text(page).catch(() => "?")).slice(0, 600)}`);
  });
  await page.waitForNetworkIdle({ idleTime: 250, timeout: ms }).catch(() => {});
}

async function open(page, url, heading) {
  await page.bringToFront();
  await page.goto(W + url, { waitUntil: "domcontentloaded" });
  await settled(page, heading);
}

/** Clicks the link whose text is `label` (inside `scope`) and waits for `heading`. */
async function clickLink(page, label, heading, scope = "body") {
  await page.bringToFront(); // a background tab in headless Chromium paints nothing: clicks would wait
  const handle = await until(`a link "${label}"`, () => page.evaluateHandle((scope, label) => {
    return [...document.querySelectorAll(`${scope} a`)].find((a) => a.textContent.trim() === label) || null;
  }, scope, label).then((h) => (h.asElement() ? h : null)));
  await handle.click();
  if (heading) await settled(page, heading);
}

async function clickButton(page, label, scope = "body") {
  await page.bringToFront();
  const handle = await until(`a button "${label}"`, () => page.evaluateHandle((scope, label) => {
    return [...document.querySelectorAll(`${scope} button`)].find((b) => b.textContent.trim() === label && !b.disabled) || null;
  }, scope, label).then((h) => (h.asElement() ? h : null)));
  await handle.click();
}

/** Confirms the page's own <dialog> (not a JavaScript dialog). */
async function confirmModal(page, label) {
  await page.waitForSelector("dialog[open]", { timeout: 10_000 });
  await clickButton(page, label, "dialog[open]");
  await page.waitForSelector("dialog[open]", { hidden: true, timeout: 10_000 });
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** axe-core on the page as it is: its source evaluated over CDP (the page's CSP allows no
 * inline script), then run; no serious or critical violation is allowed. */
async function axe(page, name) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ["violations"] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  axeSummary.pages++;
  for (const v of r) {
    axeSummary.byImpact[v.impact] = (axeSummary.byImpact[v.impact] || 0) + 1;
    axeSummary.details.push({ page: name, ...v });
  }
  const bad = r.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert(!bad.length, `axe on ${name}: ${JSON.stringify(bad, null, 1)}`);
}

/** Screenshot and axe scan of a main page. */
async function page_(page, name) {
  await shot(page, name);
  await axe(page, name);
}

/** Markup planted in data must read as text: no element, no handler, no `javascript:` link. */
async function noInjection(page, where) {
  const r = await page.evaluate(() => ({
    imgs: document.querySelectorAll("img").length,
    scripts: [...document.querySelectorAll("script")].filter((s) => !(s.type === "module" && s.getAttribute("src") === "/app.js")).length,
    handlers: [...document.querySelectorAll("*")].filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).length,
    jsLinks: [...document.querySelectorAll("[href], [src], [action], [formaction]")].filter((e) =>
      /^\s*javascript:/i.test(e.getAttribute("href") || e.getAttribute("src") || e.getAttribute("action") || e.getAttribute("formaction") || "")).length,
  }));
  assert(!r.imgs && !r.scripts && !r.handlers && !r.jsLinks, `${where}: injected markup became live: ${JSON.stringify(r)}`);
  assert(!dialogs.length, `${where}: a JavaScript dialog opened: ${JSON.stringify(dialogs)}`);
}

/** Nothing secret in storage or script-visible cookies. */
async function noSecretsStored(page, secrets, where) {
  const s = await page.evaluate(() => ({
    local: JSON.stringify(Object.entries(localStorage)),
    session: JSON.stringify(Object.entries(sessionStorage)),
    cookie: document.cookie,
    localN: localStorage.length,
    sessionN: sessionStorage.length,
  }));
  assert(s.cookie === "", `${where}: document.cookie is script-visible: ${s.cookie}`);
  assert(s.localN === 0 && s.sessionN === 0, `${where}: browser storage is used: ${s.local} ${s.session}`);
  for (const x of secrets.filter(Boolean)) {
    assert(![s.local, s.session, s.cookie].some((v) => v.includes(x)), `${where}: a secret is in browser storage`);
  }
  const cookies = await page.cookies();
  const c = cookies.find((k) => k.name === "__Host-pr_session");
  assert(c && c.httpOnly && c.secure && c.sameSite === "Strict" && c.path === "/", `${where}: the session cookie is not HttpOnly/Secure/Strict: ${JSON.stringify(cookies)}`);
}

async function sessionOf(page) {
  return page.evaluate(async () => {
    const r = await fetch("/v1/session", { credentials: "same-origin", cache: "no-store" });
    return r.ok ? (await r.json()).session : null;
  });
}

async function signInWithKey(page, key, next) {
  await open(page, "/" + (next ? `?next=${encodeURIComponent(next)}` : ""), "Sign in to ParityRail");
  const input = await page.waitForSelector("form input[name=api_key]");
  await input.type(key);
  await clickButton(page, "Sign in");
}

// ---------------------------------------------------------------------------------------------
// scenarios

const st = {}; // what one scenario leaves for the next

async function main() {
  axeSource = fs.readFileSync(path.join(ROOT, "node_modules", "axe-core", "axe.min.js"), "utf8");
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });

  await scenario("the demo starts (npm start --reset --seed) and its run has found drift", async () => {
    await startDemo();
    const pid = demo.project_id;
    const open_ = await all(`/v1/projects/${pid}/incidents?status=open`, demo.key);
    const pending = await all(`/v1/projects/${pid}/repairs?status=pending`, demo.key);
    assert(open_.length >= 20 && pending.length >= 5, `the seeded run found ${open_.length} incidents, ${pending.length} pending repairs`);
    st.pid = pid;
    st.open = open_;
    st.pending = pending;
  });
  if (!demo) return;

  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  const main = await browser.createBrowserContext();
  const page = await newTab(main, "main");
  const pid = st.pid;

  // -- 1. sign-in by key --------------------------------------------------------------------
  await scenario("sign in with an API key: the sign-in page, then the projects page; nothing secret in browser storage", async () => {
    // A `next` that leaves the site is ignored: the sign-in lands on /projects.
    await open(page, "/?next=" + encodeURIComponent("//evil.example/x"), "Sign in to ParityRail");
    await noSecretsStored(page, [], "signed out").catch((e) => { if (!/session cookie/.test(e.message)) throw e; });
    await page_(page, "01-sign-in");
    const input = await page.waitForSelector("form input[name=api_key]");
    await input.type(demo.key);
    await clickButton(page, "Sign in");
    await settled(page, "Projects");
    assert(new URL(page.url()).pathname === "/projects", `after sign-in at ${page.url()}`);
    assert((await page.$eval("input[name=api_key]", (e) => e.value).catch(() => "")) === "", "the key stays in the form");
    const s = await sessionOf(page);
    assert(s && s.via === "key" && s.environment === "test" && s.capability === "repair", `session ${JSON.stringify(s)}`);
    const cookie = (await page.cookies()).find((c) => c.name === "__Host-pr_session");
    await noSecretsStored(page, [demo.key, s.csrf_token, cookie && cookie.value], "after the key sign-in");
    const body = await text(page);
    assert(body.includes("Demo SaaS app") && body.includes(pid), "the projects page lists the demo project");
    assert(!(await page.content()).includes(demo.key), "the key is in the page");
    await page_(page, "02-projects");
  });

  // -- 2. the seeded run's incidents --------------------------------------------------------
  await scenario("the incidents of the seeded run: the open list equals the API's, one incident with its expected and actual access", async () => {
    await clickLink(page, "Demo SaaS app", "Incidents");
    // The open ones, through the filter form.
    await page.select("form.filters select[name=status]", "open");
    await clickButton(page, "Filter", "form.filters");
    await until("the filtered URL", () => new URL(page.url()).searchParams.get("status") === "open");
    await settled(page, "Incidents");
    const firstPage = (await ok("GET", `/v1/projects/${pid}/incidents?status=open`, demo.key)).data;
    const shown = await page.$$eval("#view table tbody tr th a", (as) => as.map((a) => a.textContent));
    assert(shown.length === firstPage.length && shown.every((id, i) => id === firstPage[i].id), `the page shows ${shown.length} incidents, the API ${firstPage.length}`);
    const body = await text(page);
    for (const kind of ["missing access", "unpaid access", "plan mismatch", "entitlement mismatch", "unknown customer"]) {
      if (firstPage.some((i) => i.kind.replace(/_/g, " ") === kind)) assert(body.includes(kind), `no ${kind} shown`);
    }
    await page_(page, "03-incidents");
    // One incident: a missing_access one, whose repair is pending.
    const inc = st.open.find((i) => i.kind === "missing_access" && firstPage.some((x) => x.id === i.id)) || firstPage[0];
    st.incident = inc;
    await clickLink(page, inc.id, `Incident ${inc.id}`);
    const t = await text(page);
    assert(t.includes("Expected and actual access") && t.includes(inc.customer) && t.includes("Snapshot 1"), "the incident page lacks its access or snapshots");
    assert(/missing access/.test(t) && /open/.test(t), "the incident's kind and status");
    await page_(page, "04-incident");
  });

  // -- 3. markup planted in every value the test can reach --------------------------------
  await scenario("every value is escaped: markup and javascript: URLs in a reason, a key name, a project name, an org name and a customer id (the worker refuses it as data; planted in the address bar) read as text", async () => {
    // A reason (ignore an open incident through the page itself).
    const victim = st.open.find((i) => i.kind === "unknown_customer") || st.open[st.open.length - 1];
    st.ignored = victim;
    await open(page, `/projects/${pid}/incidents/${victim.id}`, `Incident ${victim.id}`);
    await page.type("textarea[name=reason]", XSS);
    await clickButton(page, "Ignore incident");
    await until("the incident ignored", async () => (await text(page, "#view")).includes("ignored"));
    await settled(page, `Incident ${victim.id}`);
    const ign = await ok("GET", `/v1/projects/${pid}/incidents/${victim.id}`, demo.key);
    assert(ign.status === "ignored" && ign.reason === XSS, `the API says ${ign.status} / ${ign.reason}`);
    assert((await text(page, "#view")).includes(XSS), "the reason is not shown as text");
    await noInjection(page, "the ignored incident");
    await shot(page, "xss-ignored-incident");

    // A key name, a project name (through the API), an org name (the operator route).
    st.xssKey = await ok("POST", "/v1/keys", demo.owner_live_key, { name: `<script>alert(1)</script> javascript:alert(1)`, environment: "test", capability: "read" });
    st.xssProject = await ok("POST", "/v1/projects", demo.key, { name: `<img src=x onerror=alert(1)>javascript:alert(1)`, environment: "test" });
    // A customer id: a row in the app's database naming one. The worker refuses it (customer
    // keys must be Stripe ids): the run skips the row and says so; no incident carries it.
    const cus = `cus_<img src=x onerror=alert(1)>"'javascript:alert(1)`;
    const pgEnv = fs.readFileSync(path.join(DEMO_DIR, "pg", "env"), "utf8");
    const admin = /PR_PG_ADMIN="([^"]+)"/.exec(pgEnv)[1].split(" ");
    execFileSync(admin[0], [...admin.slice(1), "-v", "ON_ERROR_STOP=1", "-qc",
      `INSERT INTO accounts (stripe_customer_id, plan, is_premium, on_trial, feature_sso) VALUES ('${cus.replace(/'/g, "''")}', 'pro', true, false, false)`]);
    const run = await ok("POST", `/v1/projects/${pid}/runs`, demo.key, {});
    const done = await until("the run", async () => {
      const r = await ok("GET", `/v1/projects/${pid}/runs/${run.id}`, demo.key);
      return r.status !== "running" && r;
    }, 120_000, 500);
    assert(done.status === "succeeded", `the run ${done.status}: ${JSON.stringify(done.errors)}`);
    assert(done.errors.some((e) => /not a Stripe customer id/.test(e)), `the run does not report the skipped row: ${JSON.stringify(done.errors)}`);
    assert(!(await all(`/v1/projects/${pid}/incidents`, demo.key)).some((i) => i.customer.includes("<")), "an incident carries the marked-up customer id");
    st.run = done;

    // The pages that show them.
    await open(page, "/projects", "Projects");
    assert((await text(page, "#view")).includes(st.xssProject.name), "the project's name is not shown as text");
    await noInjection(page, "projects");
    await open(page, "/keys", "API keys");
    assert((await text(page, "#view")).includes(st.xssKey.name), "the key's name is not shown as text");
    await noInjection(page, "keys");
    await shot(page, "xss-keys");
    // The customer id where a user can put it: the address bar (a deep link) and the filter.
    // The API refuses it (400 invalid_field); the page shows that error and the value as text.
    expect4xx(400, /\/v1\/projects\/[^/]+\/incidents\?customer=/, "a marked-up customer id in the address bar: the API refuses it (400, 404)");
    expect4xx(404, /\/v1\/projects\/[^/]+\/customers\/.*\/ledger$/, "a marked-up customer id in the address bar: the API refuses it (400, 404)");
    await open(page, `/projects/${pid}/incidents?customer=${encodeURIComponent(cus)}`, "Incidents");
    await until("the refusal", async () => (await text(page, "#errors")).includes("invalid_field"));
    assert((await page.$eval("input[name=customer]", (e) => e.value)) === cus, "the filter field does not hold the customer id");
    await noInjection(page, "incidents filtered by a marked-up customer");
    await open(page, `/projects/${pid}/customers/${encodeURIComponent(cus)}/ledger`, /^(Access ledger of|Not found)/);
    await settled(page, "Not found");
    await noInjection(page, "the ledger of a marked-up customer");
    await shot(page, "xss-customer-ledger");
    // The run that skipped the row shows its error.
    await open(page, `/projects/${pid}/runs/${done.id}`, `Run ${done.id}`);
    assert((await text(page, "#view")).includes("not a Stripe customer id"), "the run's error");
    await noInjection(page, "the run");
    // A project page of the marked-up project: its name in the navigation.
    await open(page, `/projects/${st.xssProject.id}/incidents`, "Incidents");
    assert((await text(page, "#nav")).includes(st.xssProject.name), "the project name in the navigation");
    await noInjection(page, "the marked-up project");
    // A `next` of javascript: is ignored.
    const next = await page.evaluate(async () => (await import("/api.js")).safeNext("javascript:alert(1)"));
    assert(next === null, `safeNext(javascript:) = ${next}`);
  });

  // -- 4. the other pages -------------------------------------------------------------------
  await scenario("repairs, runs, integrations, keys, audit and webhook pages render what the API says", async () => {
    await open(page, `/projects/${pid}/incidents`, "Incidents");
    await clickLink(page, "Repairs", "Repairs", "#nav");
    const pending = (await ok("GET", `/v1/projects/${pid}/repairs`, demo.key)).data;
    const shown = await page.$$eval("#view table tbody tr th a", (as) => as.map((a) => a.textContent));
    assert(shown.length === pending.length && shown[0] === pending[0].id, "the repairs list differs from the API's");
    await page_(page, "05-repairs");

    await clickLink(page, "Runs", "Runs", "#nav");
    const runs = (await ok("GET", `/v1/projects/${pid}/runs`, demo.key)).data;
    const t = await text(page, "#view");
    assert(runs.every((r) => t.includes(r.id)) && t.includes("succeeded"), "the runs page lacks a run");
    await page_(page, "09-runs");
    await clickLink(page, st.run.id, `Run ${st.run.id}`);
    assert((await text(page, "#view")).includes(String(st.run.customers_checked)), "the run's customer count");
    await shot(page, "09-run");
    await axe(page, "run");

    await clickLink(page, "Integrations", "Integrations", "#nav");
    await clickButton(page, "Test database connection");
    await until("the database test result", async () => /Connected\s+yes/.test(await text(page, "#view")), 30_000);
    await page_(page, "10-integrations");

    await clickLink(page, "API keys", "API keys", "#nav");
    await page_(page, "11-keys");

    // Verify recomputes the chain; the checkpoint section shows the newest signed checkpoint it was
    // held to — none yet here: the demo's wrangler dev cannot run the cron over HTTP with the
    // dashboard's assets configured (workers-sdk #9882, fixed only in wrangler releases that need
    // Node 22); the e2e suite covers signed checkpoints.
    await open(page, `/projects/${pid}/audit`, "Audit log");
    await clickButton(page, "Verify chain");
    await until("the chain verified", async () => (await text(page, "#view")).includes("The chain is intact"), 30_000);
    const signed = (await ok("GET", `/v1/projects/${pid}/audit/verify`, demo.key)).checkpoint;
    await until("the latest signed checkpoint", async () => (await text(page, "#view")).includes(signed ? signed.head_hash : "No checkpoint has been signed"));
    await page_(page, "12-audit");

    await clickLink(page, "Webhook health", "Webhook health", "#nav");
    assert((await text(page, "#view")).includes("Events received by webhook"), "webhook health");
    await page_(page, "13-webhooks");

    await clickLink(page, "Ledger", "Access ledger", "#nav");
    await page.type("input[name=customer]", st.incident.customer);
    await clickButton(page, "Show ledger");
    await settled(page, `Access ledger of ${st.incident.customer}`);
    assert((await text(page, "#view")).includes("incident.opened"), "the ledger shows no incident.opened");
    await axe(page, "ledger (before the repair)");
  });

  // -- 5. a cross-site form post ------------------------------------------------------------
  await scenario("a cross-site form post (and a no-cors fetch) to approve a pending repair is refused; the repair stays pending", async () => {
    const now = (await all(`/v1/projects/${pid}/repairs?status=pending`, demo.key)).map((r) => r.id);
    st.pending = st.pending.filter((r) => now.includes(r.id));
    // Signed in by key with a repair capability: the strongest session to forge a request for.
    const s = await sessionOf(page);
    assert(s && s.capability === "repair", "the key session is gone");
    const target = st.pending.find((r) => r.customer !== st.incident.customer);
    st.forged = target;
    const approve = `${W}/v1/projects/${pid}/repairs/${target.id}/approve`;
    const evil = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      const u = new URL(req.url, "http://x");
      const enc = u.searchParams.get("enc") || "application/x-www-form-urlencoded";
      res.end(`<!doctype html><title>win a prize</title>
<form id=f method=POST action="${approve}" enctype="${enc}"><input name='{"a":"' value='"}'><input name=x value=1></form>
<script>
fetch(${JSON.stringify(approve)}, {method: "POST", mode: "no-cors", credentials: "include", headers: {"content-type": "text/plain"}, body: "{}"})
  .finally(() => document.getElementById("f").submit());
</script>`);
    });
    await new Promise((r) => evil.listen(0, "127.0.0.1", r));
    const evilOrigin = `http://localhost:${evil.address().port}`; // another site than 127.0.0.1
    try {
      const tab = await main.newPage(); // not watched: the attacker's page and the answers it provokes
      tab.on("dialog", (d) => d.dismiss().catch(() => {}));
      for (const enc of ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]) {
        const posted = tab.waitForResponse((r) => r.url() === approve && r.request().resourceType() === "document", { timeout: 15_000 }).catch(() => null);
        await tab.goto(`${evilOrigin}/?enc=${encodeURIComponent(enc)}`, { waitUntil: "domcontentloaded" });
        const resp = await posted;
        assert(resp, `the ${enc} form did not post`);
        assert([401, 403].includes(resp.status()), `the forged ${enc} post answered ${resp.status()}`);
        const r = await ok("GET", `/v1/projects/${pid}/repairs/${target.id}`, demo.key);
        assert(r.status === "pending" && !r.approved_by, `after a forged ${enc} post the repair is ${r.status}`);
      }
      await tab.close();
    } finally {
      evil.close();
    }
    // The session survived and still works in the dashboard.
    assert((await sessionOf(page)) !== null, "the forged posts ended the session");
  });

  // -- 6. e-mail sign-in, step-up, approve, verify, ledger -------------------------------
  await scenario("sign out, sign in by e-mailed link (test environment), approve a repair after step-up and watch it verify; the ledger shows it", async () => {
    await open(page, "/projects", "Projects");
    await clickButton(page, "Sign out", "#who");
    await settled(page, "Sign in to ParityRail");
    assert((await sessionOf(page)) === null, "signed out, yet a session answers");
    // The e-mail form.
    await page.type("input[type=email]", OWNER);
    await page.click("input[type=radio][value=test]");
    let mark = logMark();
    await clickButton(page, "E-mail me a link");
    await until("the sent notice", async () => (await text(page, "#status")).includes("sign-in link is on its way"));
    const link = await mailedLink(OWNER, mark);
    assert(link.startsWith(`${W}/signin/email#token=`), `the link ${link}`);
    await page.goto(link, { waitUntil: "domcontentloaded" });
    await settled(page, "Projects");
    assert(!page.url().includes("token"), "the token stays in the address bar");
    const s = await sessionOf(page);
    assert(s && s.via === "email" && s.email === OWNER && s.environment === "test" && s.capability === "read" && !s.step_up_until, `session ${JSON.stringify(s)}`);
    const cookie = (await page.cookies()).find((c) => c.name === "__Host-pr_session");
    await noSecretsStored(page, [s.csrf_token, cookie && cookie.value, link.split("token=")[1]], "after the e-mail sign-in");
    // The link is single-use.
    expect4xx(401, /\/v1\/sessions\/email\/confirm$/, "a used sign-in link opened again on purpose: 401 invalid_link");
    await page.goto(link, { waitUntil: "domcontentloaded" });
    await settled(page, /E-mail sign-in|Projects/);
    assert((await text(page, "#view")).includes("The link was used already") || (await h1(page)) === "Projects", "a used link");

    // A pending repair, not the forged one.
    const rep = st.pending.find((r) => r.customer === st.incident.customer) || st.pending.find((r) => r.id !== st.forged.id);
    st.repair = rep;
    await open(page, `/projects/${pid}/repairs/${rep.id}`, `Repair ${rep.id}`);
    const before = await text(page, "#view");
    assert(before.includes("pending") && before.includes("UPDATE") && rep.changes.every((c) => before.includes(c.column)), "the pending repair's page lacks its diff or statement");
    await page_(page, "06-repair-pending");
    // (The page knows an e-mail session reads only until a step-up: it offers the step-up
    // without sending the approval, so no refused request is logged.)
    await clickButton(page, "Approve and run");
    await confirmModal(page, "Approve");
    await until("the step-up offer", async () => (await text(page, "#stepup")).includes("Send me a confirmation e-mail"));
    await shot(page, "06-repair-step-up");
    await axe(page, "repair (step-up offered)");
    mark = logMark();
    await clickButton(page, "Send me a confirmation e-mail", "#stepup");
    const stepLink = await mailedLink(OWNER, mark);
    // The member opens the e-mail's link in the same browser (another tab).
    const mailTab = await newTab(main, "mail");
    await mailTab.goto(stepLink, { waitUntil: "domcontentloaded" });
    await settled(mailTab, "Projects");
    assert((await text(mailTab, "#status")).includes("Confirmed"), "the step-up link's landing page says nothing");
    await mailTab.close();
    // Back on the repair: the page notices (it polls the session) and offers a retry.
    await until("the retry offer", async () => (await text(page, "#stepup")).includes("Retry"), 20_000);
    assert((await sessionOf(page)).step_up_until, "no step-up recorded");
    await clickButton(page, "Retry", "#stepup");
    await confirmModal(page, "Approve");
    const t0 = Date.now();
    const api = await until("the repair verified", async () => {
      const r = await ok("GET", `/v1/projects/${pid}/repairs/${rep.id}`, demo.key);
      return ["verified", "unverified", "failed", "stale"].includes(r.status) && r;
    }, 60_000, 250);
    assert(api.status === "verified", `the API says ${api.status}: ${api.error}`);
    // The page shows what the API says (reloading if the answer came before verification).
    await until("the page to show verified", async () => {
      const t = await text(page, "#view");
      if (/Status\s+verified/.test(t)) return true;
      await open(page, `/projects/${pid}/repairs/${rep.id}`, `Repair ${rep.id}`);
      return false;
    }, 30_000, 1000);
    times.approve_to_verified_s = +((Date.now() - t0) / 1000).toFixed(1);
    const after = await text(page, "#view");
    assert(after.includes(OWNER) || after.includes(api.approved_by), "the approver");
    assert(api.row_after && Object.keys(api.row_after).every((c) => after.includes(c)), "the row after");
    await page_(page, "07-repair-verified");

    // The ledger of that customer, reached from the repair's page.
    await clickLink(page, rep.customer, `Access ledger of ${rep.customer}`, "#view dl");
    const lt = await text(page, "#view");
    for (const a of ["incident.opened", "repair.created", "repair.approved", "repair.executed", "incident.resolved", "repair.verified"]) {
      assert(lt.includes(a), `the ledger lacks ${a}`);
    }
    await page.click("#view details summary");
    await page_(page, "08-ledger");
    // The incident it resolved.
    const inc = await ok("GET", `/v1/projects/${pid}/incidents/${rep.incident_ids[0]}`, demo.key);
    assert(inc.status === "resolved", `the incident is ${inc.status}`);
  });

  // -- 7. revocation in another tab ---------------------------------------------------------
  await scenario("a key revoked in another tab: the next click in the first tab lands on the sign-in page", async () => {
    const k = await ok("POST", "/v1/keys", demo.owner_live_key, { name: `browser revoke ${Date.now()}`, environment: "test", capability: "repair" });
    const ctx = await browser.createBrowserContext();
    const a = await newTab(ctx, "revoke-A");
    await signInWithKey(a, k.key, `/projects/${pid}/incidents`);
    await settled(a, "Incidents");
    assert(new URL(a.url()).pathname === `/projects/${pid}/incidents`, "the `next` was not followed");
    // Tab B, same browser: the keys page, revoke that key (the session's own key).
    const b = await newTab(ctx, "revoke-B");
    await open(b, "/keys", "API keys");
    const revoke = await until("the key's revoke button", () => b.evaluateHandle((name) => {
      const row = [...document.querySelectorAll("#view tbody tr")].find((tr) => tr.querySelector("th").textContent === name);
      return row ? row.querySelector("button.danger") : null;
    }, k.name).then((h) => (h.asElement() ? h : null)));
    phase = "revoked";
    expect4xx(401, new RegExp(`^${W}/v1/`), "after the deliberate revocation");
    await revoke.click();
    await confirmModal(b, "Revoke");
    await until("the key revoked", async () => {
      const keys = await all("/v1/keys", demo.owner_live_key);
      return keys.find((x) => x.id === k.id).revoked_at;
    });
    // Tab A: one click.
    await clickLink(a, "Repairs", null, "#nav");
    await until("tab A on the sign-in page", async () => new URL(a.url()).pathname === "/" && (await h1(a)) === "Sign in to ParityRail");
    assert(new URL(a.url()).searchParams.get("next") === `/projects/${pid}/repairs`, `the sign-in page remembers ${a.url()}`);
    await until("the page to say why", async () => (await text(a, "#status")).includes("Your session has ended"));
    assert((await sessionOf(a)) === null, "the session still answers");
    await shot(a, "revoked-signed-out");
    await ctx.close();
    phase = "after revocation";
  });

  // -- 8. another org's incident ------------------------------------------------------------
  await scenario("another org's incident URL shows the same Not found page as a missing one", async () => {
    const op = /OPERATOR_TOKEN="([^"]+)"/.exec(fs.readFileSync(path.join(DEMO_DIR, ".dev.vars"), "utf8"))[1];
    const org = await ok("POST", "/v1/operator/orgs", op, { name: `<img src=x onerror=alert(1)>Other org javascript:alert(1)`, owner_email: "owner@other.test" });
    const key2 = await ok("POST", "/v1/keys", org.key.key, { name: "other test", environment: "test", capability: "read" });
    expect4xx(404, new RegExp(`^${W}/v1/projects/(${pid}|prj_0+)(/incidents/[^/]+)?$`), "the other org's and the missing objects asked for on purpose");
    const ctx = await browser.createBrowserContext();
    const o = await newTab(ctx, "other-org");
    await signInWithKey(o, key2.key);
    await settled(o, "Projects");
    assert((await text(o, "#who")).includes(org.org.name), `the org's name is not shown as text: ${await text(o, "#who")}`);
    await noInjection(o, "the marked-up org");
    const view = async (url) => {
      await o.goto(W + url, { waitUntil: "domcontentloaded" });
      await settled(o, "Not found");
      return { title: await o.title(), text: await text(o, "#main") };
    };
    const theirs = await view(`/projects/${pid}/incidents/${st.incident.id}`);
    const missing = await view(`/projects/${pid}/incidents/inc_0000000000000000000000`);
    const noProject = await view(`/projects/prj_0000000000000000000000/incidents/${st.incident.id}`);
    assert(theirs.text === missing.text && theirs.title === missing.title && missing.text === noProject.text, `they differ:\n${JSON.stringify([theirs, missing, noProject], null, 1)}`);
    assert(!theirs.text.includes(st.incident.customer), "the other org's customer leaks");
    // The API answers alike too.
    const a1 = await o.evaluate(async (u) => { const r = await fetch(u); return [r.status, (await r.json()).error.code]; }, `/v1/projects/${pid}/incidents/${st.incident.id}`);
    const a2 = await o.evaluate(async (u) => { const r = await fetch(u); return [r.status, (await r.json()).error.code]; }, `/v1/projects/${pid}/incidents/inc_0000000000000000000000`);
    assert(JSON.stringify(a1) === JSON.stringify(a2) && a1[0] === 404, `the API: ${a1} vs ${a2}`);
    await page_(o, "14-not-found");
    await ctx.close();
  });

  // -- 9. the Trust page ----------------------------------------------------------------------
  await scenario("the Trust page (/trust/) renders without script", async () => {
    const t = await newTab(main, "trust");
    const r = await t.goto(`${W}/trust/`, { waitUntil: "load" });
    assert(r.status() === 200, `/trust/ answered ${r.status()}`);
    const body = await text(t);
    assert(/trust/i.test(body) && (await t.$$("script")).length === 0, "the Trust page");
    await page_(t, "15-trust");
    await t.close();
  });

  // -- 10. headers, console, dialogs ----------------------------------------------------------
  await scenario("every page's response carries the CSP (no unsafe-inline/unsafe-eval, frame-ancestors 'none'), nosniff and Referrer-Policy no-referrer", async () => {
    const extra = ["/", "/projects", `/projects/${pid}/repairs/rep_x`, "/trust/", "/no/such/page", "/signin/email"];
    const seen = docHeaders.map((d) => ({ url: d.url, headers: d.headers, status: d.status }));
    for (const u of extra) {
      const r = await fetch(W + u);
      await r.arrayBuffer();
      seen.push({ url: W + u, status: r.status, headers: Object.fromEntries(r.headers) });
    }
    assert(seen.length > 15, `only ${seen.length} page responses seen`);
    for (const d of seen) {
      const h = d.headers;
      const csp = h["content-security-policy"] || "";
      const dirs = Object.fromEntries(csp.split(";").map((x) => x.trim().split(/\s+/)).filter((x) => x[0]).map(([k, ...v]) => [k, v]));
      const where = `${d.url} (${d.status})`;
      assert(csp, `${where}: no Content-Security-Policy`);
      assert(!/unsafe-inline|unsafe-eval|unsafe-hashes|wasm-unsafe-eval/.test(csp), `${where}: ${csp}`);
      assert(dirs["frame-ancestors"] && dirs["frame-ancestors"].join(" ") === "'none'", `${where}: frame-ancestors ${dirs["frame-ancestors"]}`);
      assert(dirs["default-src"] && dirs["default-src"].join(" ") === "'none'", `${where}: default-src`);
      assert(dirs["script-src"] && dirs["script-src"].every((v) => v === "'self'"), `${where}: script-src ${dirs["script-src"]}`);
      assert((h["x-content-type-options"] || "").toLowerCase() === "nosniff", `${where}: X-Content-Type-Options ${h["x-content-type-options"]}`);
      assert((h["referrer-policy"] || "").toLowerCase() === "no-referrer", `${where}: Referrer-Policy ${h["referrer-policy"]}`);
    }
    times.page_responses_checked = seen.length;
  });

  await scenario("no JavaScript dialog opened, and no console error but the 4xx answers a step provokes on purpose (the 401s after the revocation, each listed with its reason)", async () => {
    assert(!dialogs.length, `dialogs: ${JSON.stringify(dialogs)}`);
    const bad = consoleLog.filter((c) => !allowedBy(c));
    assert(!bad.length, `console errors:\n${bad.map((c) => `[${c.tab} / ${c.phase}] ${c.text} ${c.url}`).join("\n")}`);
  });
}

// ---------------------------------------------------------------------------------------------

let finished = false;
async function finish(code) {
  if (finished) return;
  finished = true;
  try { if (browser) await browser.close(); } catch {}
  await stopDemo().catch(() => {});
  const passed = results.filter((r) => !r.error).length;
  const failed = results.length - passed + (code ? 1 : 0);
  const summary = {
    passed, failed,
    tests: results.map((r) => r.name),
    results: results.map((r) => ({ name: r.name, status: r.error ? "failed" : "passed" })),
    axe: { pages: axeSummary.pages, violations_by_impact: axeSummary.byImpact, violations: axeSummary.details },
    console_errors: consoleLog,
    dialogs,
    times,
  };
  const why = {};
  for (const c of consoleLog) { const a = allowedBy(c); const k = a ? a.reason : "NOT ALLOWED"; why[k] = (why[k] || 0) + 1; }
  summary.console_errors_by_reason = why;
  console.log(JSON.stringify({ axe: { pages: summary.axe.pages, violations_by_impact: summary.axe.violations_by_impact }, console_errors: consoleLog.length, console_errors_by_reason: why, times }));
  console.log(`${passed} passed, ${failed} failed`);
  if (OUT) fs.writeFileSync(OUT, JSON.stringify(summary, null, 1));
  process.exit(failed ? 1 : 0);
}

process.on("SIGINT", () => { results.push({ name: "interrupted", error: new Error("SIGINT") }); finish(1); });
main().then(() => finish(0), (e) => { console.log(`FAILED (harness) ${e && e.stack ? e.stack : e}`); finish(1); });
