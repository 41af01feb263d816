// Webhook benchmark (a script that prints figures, not a test), through `wrangler dev`:
//   1. acknowledgement latency (p50/p99) of BENCH_EVENTS (2,000) signed deliveries, serially
//      and with 16 in flight (each a new event asking for a check);
//   2. Stripe reads per event under a storm: 50 events for each of 20 customers, 16 in flight,
//      then the outbox drained by the project's coordinator.
// Stripe is a generated Stripe-shaped server that counts reads; the app table is in the test
// PostgreSQL (scripts/pg.sh; PR_PG_* in the environment). Target: p99 <= 20 ms serially.
import { createHmac, randomBytes } from "node:crypto";
import { NO_LIMITS, env, pct, psql, startWrangler, stripeServer } from "./bench-lib.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 2000);
const PORT = Number(process.env.BENCH_WEBHOOK_PORT ?? 8798);
const SECRET = `whsec_${randomBytes(16).toString("hex")}`;
const TABLE = "scratch.bench_hooks";
const CUSTOMERS = Array.from({ length: 20 }, (_, i) => `cus_hook${String(i).padStart(4, "0")}`);

const stripe = await stripeServer();
const reads = stripe.reads;

// ---- the app table ---------------------------------------------------------------------------
psql(`DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (stripe_customer_id text PRIMARY KEY, plan text NOT NULL, is_premium boolean NOT NULL)`);
psql(`INSERT INTO ${TABLE} VALUES ${CUSTOMERS.map((c) => `('${c}', 'pro', true)`).join(", ")}`);

const wd = await startWrangler(PORT, {
  STRIPE_API_BASE: stripe.base,
  ...NO_LIMITS,
}, "bench-hooks", { logs: true });
const { base, call } = wd;
const OP = wd.op;

try {
  const org = await call("POST", "/v1/operator/orgs", OP, { name: "Bench", owner_email: "hooks@example.com" });
  const key = (await call("POST", "/v1/keys", org.key.key, { name: "bench", environment: "test", capability: "repair" })).key;
  const pid = (await call("POST", "/v1/projects", key, { name: "hooks" })).id;
  await call("PUT", `/v1/projects/${pid}/integrations/database`, key, { read_url: env("PR_PG_READER_URL") });
  await call("PUT", `/v1/projects/${pid}/integrations/stripe`, key, { api_key: `sk_test_${randomBytes(12).toString("hex")}`, webhook_secrets: [SECRET] });
  await call("PUT", `/v1/projects/${pid}/mapping`, key, { table: TABLE, customer_column: "stripe_customer_id", plan_column: "plan", premium_column: "is_premium", plans: { price_pro: { plan: "pro", rank: 1 } }, free_plan: "free" });

  const deliver = async (customer) => {
    const t = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ id: `evt_${randomBytes(12).toString("hex")}`, object: "event", type: process.env.BENCH_EVENT_TYPE ?? "customer.subscription.updated", created: t, data: { object: { id: "sub_x", customer } } });
    const sig = `t=${t},v1=${createHmac("sha256", SECRET).update(`${t}.${body}`).digest("hex")}`;
    const s = performance.now();
    const r = await fetch(`${base}/webhooks/stripe/${pid}`, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": sig }, body });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`delivery answered ${r.status}`);
    return performance.now() - s;
  };
  const drained = async () => {
    for (;;) {
      const h = await call("GET", `/v1/projects/${pid}/webhooks/health`, key);
      if (h.outbox_pending === 0) return h;
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const atConcurrency = async (count, c, pick) => {
    const lat = [];
    let next = 0;
    await Promise.all(Array.from({ length: c }, async () => {
      while (next < count) {
        const i = next++;
        lat.push(await deliver(pick(i)));
      }
    }));
    return lat;
  };

  // The dev server's own floor: a route that does no I/O at all, served the same way.
  const floor = [];
  for (let i = 0; i < 2000; i++) {
    const s0 = performance.now();
    await (await fetch(`${base}/healthz`)).arrayBuffer();
    floor.push(performance.now() - s0);
  }
  const baseline = [];
  for (let i = 0; i < 200; i++) {
    const s0 = performance.now();
    await (await fetch(`${base}/v1/org`, { headers: { authorization: `Bearer ${key}` } })).arrayBuffer();
    baseline.push(performance.now() - s0);
  }
  for (let i = 0; i < 50; i++) await deliver(CUSTOMERS[i % CUSTOMERS.length]); // warm-up
  await drained();
  const serial = [];
  const loggedBefore = wd.workerMs("/webhooks/").length;
  for (let i = 0; i < N; i++) serial.push(await deliver(CUSTOMERS[i % CUSTOMERS.length]));
  // The same deliveries as the worker itself timed them (from its request log line: entry to
  // response, without the dev server's proxying).
  await new Promise((r) => setTimeout(r, 1000));
  const inWorker = wd.workerMs("/webhooks/").slice(loggedBefore, loggedBefore + N);
  await drained();
  const t0 = performance.now();
  const parallel = await atConcurrency(N, 16, (i) => CUSTOMERS[i % CUSTOMERS.length]);
  const parallelSecs = (performance.now() - t0) / 1000;
  await drained();
  const before = { ...reads };
  const storm = CUSTOMERS.length * 50;
  await atConcurrency(storm, 16, (i) => CUSTOMERS[i % CUSTOMERS.length]);
  await drained();
  const customerReads = reads.customer - before.customer;
  const subReads = reads.subscriptions - before.subscriptions;

  console.log(`webhooks through wrangler dev: ${N} signed deliveries, each asking for a check`);
  console.log(`  (floor: GET /healthz, no I/O, serially: p50 ${pct(floor, 50).toFixed(1)} ms, p99 ${pct(floor, 99).toFixed(1)} ms)`);
  console.log(`  (baseline: an authenticated GET /v1/org, serially: p50 ${pct(baseline, 50).toFixed(1)} ms, p99 ${pct(baseline, 99).toFixed(1)} ms)`);
  console.log(`  serial:          p50 ${pct(serial, 50).toFixed(1)} ms, p99 ${pct(serial, 99).toFixed(1)} ms (target p99 <= 20 ms)`);
  if (inWorker.length) console.log(`  serial, inside the worker (${inWorker.length} logged): p50 ${pct(inWorker, 50).toFixed(1)} ms, p99 ${pct(inWorker, 99).toFixed(1)} ms`);
  console.log(`  16 in flight:    p50 ${pct(parallel, 50).toFixed(1)} ms, p99 ${pct(parallel, 99).toFixed(1)} ms, ${(N / parallelSecs).toFixed(0)} deliveries/s`);
  console.log(`  storm: ${storm} events for ${CUSTOMERS.length} customers -> ${customerReads} customer re-reads + ${subReads} subscription lists = ${((customerReads + subReads) / storm).toFixed(3)} Stripe reads per event`);
  console.log(JSON.stringify({ serial_p50: pct(serial, 50), serial_p99: pct(serial, 99), parallel_p50: pct(parallel, 50), parallel_p99: pct(parallel, 99), storm, customerReads, subReads }));
} finally {
  await wd.stop();
  stripe.close();
  psql(`DROP TABLE IF EXISTS ${TABLE}`);
}
process.exit(0);
