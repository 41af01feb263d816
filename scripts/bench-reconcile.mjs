// Reconcile benchmark (a script that prints figures, not a test). Generates a Stripe-shaped list
// server with BENCH_CUSTOMERS customers (80% with a subscription) and a PostgreSQL table with an
// app row for each (5% drifted), then, on the same data:
//   - a full run of the built worker (Miniflare: D1, the ProjectCoordinator Durable Object doing
//     the run step by step on its alarm): Stripe requests, database round trips, wall time and
//     the worker runtime's CPU time, per 1,000 customers;
//   - the naive approach: per customer, one Stripe retrieve with its subscriptions and one
//     SELECT over one persistent connection, sequentially;
// once as fast as the machine allows and once with BENCH_LATENCY_MS (25) added to every Stripe
// response. The naive walk with latency covers BENCH_NAIVE_SAMPLE customers (2,000) and is
// scaled to the whole (it is linear by construction).
//
// Needs the build (scripts/build.sh) and PostgreSQL (scripts/pg.sh start; PR_PG_* in the env).
import { createServer } from "node:http";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import setup from "../tests/e2e/global-setup.mjs";
import { OPERATOR_TOKEN, startWorker } from "../tests/e2e/harness.mjs";

const N = Number(process.env.BENCH_CUSTOMERS ?? 10_000);
const LATENCY = Number(process.env.BENCH_LATENCY_MS ?? 25);
const SAMPLE = Math.min(N, Number(process.env.BENCH_NAIVE_SAMPLE ?? 2_000));
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: start PostgreSQL with scripts/pg.sh and source .tmp/pg/env`);
  return v;
};
const TABLE = "scratch.bench_accounts";
const PRICES = [
  { id: "price_bench_pro", product: "prod_bench_pro", plan: "pro" },
  { id: "price_bench_basic", product: "prod_bench_basic", plan: "basic" },
];

// ---- the data ------------------------------------------------------------------------------
const pad = (i) => String(i).padStart(6, "0");
const customers = Array.from({ length: N }, (_, i) => ({ id: `cus_bench${pad(i)}`, object: "customer" }));
const subscriptions = [];
customers.forEach((c, i) => {
  if (i % 5 === 4) return; // 80% subscribe
  const price = PRICES[i % 2];
  subscriptions.push({
    id: `sub_bench${pad(i)}`,
    object: "subscription",
    customer: c.id,
    status: "active",
    items: { object: "list", data: [{ id: `si_bench${pad(i)}`, price: { id: price.id, product: price.product } }], has_more: false },
  });
});
const subsOf = new Map(subscriptions.map((s) => [s.customer, s]));
// App rows: what each customer pays for, except every 20th (5%) drifted the other way.
const rows = customers.map((c, i) => {
  const s = subsOf.get(c.id);
  let plan = s ? PRICES.find((p) => p.id === s.items.data[0].price.id).plan : "free";
  if (i % 20 === 7) plan = plan === "free" ? "pro" : "free";
  return [c.id, plan, plan !== "free"];
});

// ---- a Stripe-shaped list server -----------------------------------------------------------
let stripeRequests = 0;
function page(list, url) {
  const limit = Math.min(100, Number(url.searchParams.get("limit") ?? 10));
  const after = url.searchParams.get("starting_after");
  const from = after ? list.findIndex((x) => x.id === after) + 1 : 0;
  const data = list.slice(from, from + limit);
  return { object: "list", data, has_more: from + limit < list.length, url: url.pathname };
}
const server = createServer((req, res) => {
  stripeRequests += 1;
  const url = new URL(req.url, "http://stripe");
  let body;
  let m;
  if (url.pathname === "/v1/account") body = { id: "acct_bench", object: "account" };
  else if (url.pathname === "/v1/customers") body = page(customers, url);
  else if (url.pathname === "/v1/subscriptions") {
    const c = url.searchParams.get("customer");
    body = page(c ? subscriptions.filter((s) => s.customer === c) : subscriptions, url);
  } else if ((m = /^\/v1\/products\/([^/]+)\/features$/.exec(url.pathname))) {
    body = { object: "list", data: [{ id: `pf_${m[1]}`, entitlement_feature: { lookup_key: m[1] === "prod_bench_pro" ? "sso" : "basic" } }], has_more: false };
  } else if ((m = /^\/v1\/customers\/([^/]+)$/.exec(url.pathname))) {
    const c = customers.find((x) => x.id === m[1]);
    const s = subsOf.get(m[1]);
    body = c ? { ...c, subscriptions: { object: "list", data: s ? [s] : [], has_more: false } } : undefined;
  }
  const send = () => {
    res.writeHead(body ? 200 : 404, { "content-type": "application/json" });
    res.end(JSON.stringify(body ?? { error: { type: "invalid_request_error" } }));
  };
  if (server.latency) setTimeout(send, server.latency);
  else send();
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const STRIPE = `http://127.0.0.1:${server.address().port}`;

// ---- the app table -------------------------------------------------------------------------
const psql = (args, input) => execFileSync("psql", [env("PR_PG_WRITER_URL"), "-v", "ON_ERROR_STOP=1", "-qAt", ...args], { input, encoding: "utf8" });
psql(["-c", `DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (stripe_customer_id text PRIMARY KEY, plan text NOT NULL, is_premium boolean NOT NULL)`]);
psql(["-c", `COPY ${TABLE} FROM STDIN WITH (FORMAT csv)`], rows.map((r) => r.join(",")).join("\n") + "\n");

// ---- the worker ----------------------------------------------------------------------------
setup();
const w = await startWorker({ STRIPE_API_BASE: STRIPE, STRIPE_TIMEOUT_MS: "30000", DB_SESSION_TIMEOUT_MS: "60000" });
const call = async (method, path, key, body) => {
  const r = await w.request(method, path, { key, body });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.json;
};
const org = await call("POST", "/v1/operator/orgs", OPERATOR_TOKEN, { name: "Bench", owner_email: "bench@example.com" });
const key = (await call("POST", "/v1/keys", org.key.key, { name: "bench", environment: "test", capability: "repair" })).key;
const project = await call("POST", "/v1/projects", key, { name: "bench" });
const pid = project.id;
await call("PUT", `/v1/projects/${pid}/integrations/database`, key, { read_url: env("PR_PG_READER_URL") });
await call("PUT", `/v1/projects/${pid}/integrations/stripe`, key, { api_key: `sk_test_${randomBytes(12).toString("hex")}`, webhook_secrets: [] });
await call("PUT", `/v1/projects/${pid}/mapping`, key, {
  table: TABLE,
  customer_column: "stripe_customer_id",
  plan_column: "plan",
  premium_column: "is_premium",
  plans: { price_bench_pro: { plan: "pro", rank: 2 }, price_bench_basic: { plan: "basic", rank: 1 } },
  free_plan: "free",
});

// The CPU time (user + system) of the worker runtime processes this script started.
function runtimeCpuMs() {
  const out = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" });
  let ticks = 0;
  for (const line of out.trim().split("\n")) {
    const [pid, comm] = line.trim().split(/\s+/);
    if (!comm?.includes("workerd")) continue;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    ticks += Number(stat[11]) + Number(stat[12]);
  }
  return ticks * 10; // CLK_TCK = 100
}

async function fullRun(label) {
  const before = stripeRequests;
  const cpu0 = runtimeCpuMs();
  const t0 = performance.now();
  const run = await call("POST", `/v1/projects/${pid}/runs`, key);
  let r;
  for (;;) {
    r = await call("GET", `/v1/projects/${pid}/runs/${run.id}`, key);
    if (r.status !== "running") break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const wall = performance.now() - t0;
  const cpu = runtimeCpuMs() - cpu0;
  if (r.status !== "succeeded") throw new Error(`run ${r.status}: ${JSON.stringify(r.errors)}`);
  return { label, wall, cpu, stripe: r.stripe_requests, served: stripeRequests - before, db: r.db_round_trips, checked: r.customers_checked, opened: r.incidents_opened };
}

// The naive approach: one Stripe retrieve (with subscriptions) and one SELECT per customer.
async function naive(label, count) {
  const pg = spawn("psql", [env("PR_PG_READER_URL"), "-qAt", "-v", "ON_ERROR_STOP=1"], { stdio: ["pipe", "pipe", "inherit"] });
  let buf = "";
  let waiting;
  pg.stdout.on("data", (d) => {
    buf += d;
    if (waiting && buf.includes("__end__\n")) {
      const out = buf;
      buf = "";
      waiting(out);
    }
  });
  const query = (q) => new Promise((res) => {
    waiting = res;
    pg.stdin.write(`${q};\n\\echo __end__\n`);
  });
  const t0 = performance.now();
  const before = stripeRequests;
  let drift = 0;
  for (const c of customers.slice(0, count)) {
    const s = await (await fetch(`${STRIPE}/v1/customers/${c.id}?expand[]=subscriptions`)).json();
    const row = await query(`SELECT plan, is_premium FROM ${TABLE} WHERE stripe_customer_id = '${c.id}'`);
    const paying = s.subscriptions.data.length > 0;
    if (paying !== row.startsWith("pro") && paying !== row.startsWith("basic")) drift += 1;
  }
  const wall = performance.now() - t0;
  pg.stdin.end();
  return { label, wall: (wall * N) / count, stripe: ((stripeRequests - before) * N) / count, db: N, sampled: count, drift };
}

const per1k = (x) => (x * 1000) / N;
const fmt = (n, d = 0) => n.toFixed(d).padStart(9);
const results = [];
server.latency = 0;
results.push(await fullRun("full run, no added latency"));
results.push(await naive("naive, no added latency", N));
server.latency = LATENCY;
results.push(await fullRun(`full run, +${LATENCY} ms per Stripe response`));
results.push(await naive(`naive, +${LATENCY} ms per Stripe response`, SAMPLE));

const subs = subscriptions.length;
const stripeBudget = Math.ceil(N / 100) + Math.ceil(subs / 100) + PRICES.length + 5;
const dbBudget = Math.ceil(N / 500) + 5;
console.log(`reconcile: ${N} customers, ${subs} subscriptions, ${PRICES.length} products, 5% drift`);
console.log(`targets: Stripe requests <= ${stripeBudget}, database round trips <= ${dbBudget}, >= 20x faster than naive with latency`);
console.log("                                          stripe req   db trips    wall ms   wall ms/1k   cpu ms/1k");
for (const r of results) {
  const cpu = r.cpu === undefined ? "        -" : fmt(per1k(r.cpu), 1);
  const sampled = r.sampled && r.sampled < N ? ` (from ${r.sampled})` : "";
  console.log(`${r.label.padEnd(42)}${fmt(r.stripe)}${fmt(r.db)}  ${fmt(r.wall)}    ${fmt(per1k(r.wall), 1)}   ${cpu}${sampled}`);
}
const [fast, naiveFast, slow, naiveSlow] = results;
console.log(`incidents opened by the first run: ${fast.opened}; customers checked: ${fast.checked}`);
console.log(`speed-up over naive: ${(naiveFast.wall / fast.wall).toFixed(1)}x without latency, ${(naiveSlow.wall / slow.wall).toFixed(1)}x with ${LATENCY} ms`);
const ok = fast.stripe <= stripeBudget && fast.db <= dbBudget && naiveSlow.wall / slow.wall >= 20;
console.log(ok ? "targets met" : "TARGETS MISSED");
console.log(JSON.stringify({ customers: N, subscriptions: subs, results }));
await w.dispose();
server.close();
psql(["-c", `DROP TABLE IF EXISTS ${TABLE}`]);
process.exit(ok ? 0 : 1);
