// Soak (a script that prints figures and fails on a fault, not a test), through `wrangler dev`
// with the worker in build/: for SOAK_SECONDS (60), at once, 12 streams of signed deliveries
// (each asking for a check, so the coordinator drains all along), 4 of deliveries without a
// signature, 2 of signed deliveries over 1 MiB, 2 of exactly 1 MiB with a wrong signature, 4 of
// PATCH /v1/projects/{pid}, and a cron tick every 2 s. Prints the answers counted by status and
// fails when any is a 5xx, a request fails, or the runtime logs a restart, a panic or a trap.
// Needs PostgreSQL (scripts/pg.sh; PR_PG_* in the environment).
import { createHmac, randomBytes } from "node:crypto";
import { NO_LIMITS, env, psql, startWrangler, stripeServer } from "./bench-lib.mjs";
const SECRET = `whsec_${randomBytes(16).toString("hex")}`;
const TABLE = "scratch.soak_hooks";
const CUSTOMERS = Array.from({ length: 20 }, (_, i) => `cus_soak${String(i).padStart(4, "0")}`);
const stripe = await stripeServer();
psql(`DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (stripe_customer_id text PRIMARY KEY, plan text NOT NULL, is_premium boolean NOT NULL)`);
psql(`INSERT INTO ${TABLE} VALUES ${CUSTOMERS.map((c) => `('${c}', 'pro', true)`).join(", ")}`);
const wd = await startWrangler(Number(process.env.SOAK_PORT ?? 8813), { STRIPE_API_BASE: stripe.base, ...NO_LIMITS }, "soak", { logs: true, prebuilt: true });
const { base, call } = wd;
const statuses = {};
const count = (k) => { statuses[k] = (statuses[k] ?? 0) + 1; };
/** The first body seen of each 5xx, for the report. */
const firstBodies = {};
const keep = async (name, r) => {
  const text = await r.text();
  if (r.status >= 500 && !firstBodies[`${name} ${r.status}`]) firstBodies[`${name} ${r.status}`] = text.slice(0, 200);
  return r.status;
};
try {
  const org = await call("POST", "/v1/operator/orgs", wd.op, { name: "Soak", owner_email: "soak@example.com" });
  const key = (await call("POST", "/v1/keys", org.key.key, { name: "s", environment: "test", capability: "repair" })).key;
  const pid = (await call("POST", "/v1/projects", key, { name: "soak" })).id;
  await call("PUT", `/v1/projects/${pid}/integrations/database`, key, { read_url: env("PR_PG_READER_URL") });
  await call("PUT", `/v1/projects/${pid}/integrations/stripe`, key, { api_key: `sk_test_${randomBytes(12).toString("hex")}`, webhook_secrets: [SECRET] });
  await call("PUT", `/v1/projects/${pid}/mapping`, key, { table: TABLE, customer_column: "stripe_customer_id", plan_column: "plan", premium_column: "is_premium", plans: { price_pro: { plan: "pro", rank: 1 } }, free_plan: "free" });
  const end = Date.now() + Number(process.env.SOAK_SECONDS ?? 60) * 1000;
  const sign = (body) => { const t = Math.floor(Date.now() / 1000); return `t=${t},v1=${createHmac("sha256", SECRET).update(`${t}.`).update(body).digest("hex")}`; };
  const loop = async (name, fn) => { while (Date.now() < end) { try { count(`${name} ${await fn()}`); } catch (e) { count(`${name} throw ${e.cause?.code ?? e.message}`); } } };
  let i = 0;
  const good = async () => {
    const body = JSON.stringify({ id: `evt_${randomBytes(12).toString("hex")}`, object: "event", type: "customer.subscription.updated", created: Math.floor(Date.now() / 1000), data: { object: { id: "sub_x", customer: CUSTOMERS[i++ % 20] } } });
    const r = await fetch(`${base}/webhooks/stripe/${pid}`, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": sign(body) }, body });
    return keep("good", r);
  };
  const nosig = async () => { const r = await fetch(`${base}/webhooks/stripe/${pid}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }); return keep("nosig", r); };
  const big = async () => { const body = Buffer.alloc(1024 * 1024 + 100, 0x20); const r = await fetch(`${base}/webhooks/stripe/${pid}`, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": sign(body) }, body }); return keep("big", r); };
  const mib = async () => { const body = Buffer.alloc(1024 * 1024, 0x20); const r = await fetch(`${base}/webhooks/stripe/${pid}`, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": sign(body) }, body }); return keep("mib", r); };
  const patch = async () => { const r = await fetch(`${base}/v1/projects/${pid}`, { method: "PATCH", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ name: `soak ${randomBytes(2).toString("hex")}` }) }); return keep("patch", r); };
  const tick = async () => { const r = await fetch(`${base}/cdn-cgi/handler/scheduled`); await r.arrayBuffer(); await new Promise((res) => setTimeout(res, 2000)); return r.status; };
  await Promise.all([
    ...Array.from({ length: 12 }, () => loop("good", good)),
    ...Array.from({ length: 4 }, () => loop("nosig", nosig)),
    ...Array.from({ length: 2 }, () => loop("big", big)),
    ...Array.from({ length: 2 }, () => loop("mib", mib)),
    ...Array.from({ length: 4 }, () => loop("patch", patch)),
    loop("tick", tick),
  ]);
  console.log(`soak: ${Object.values(statuses).reduce((a, b) => a + b, 0)} requests in ${process.env.SOAK_SECONDS ?? 60} s:`, JSON.stringify(statuses));
  const faults = wd.output().split("\n").filter((l) => /restarted|panicked|RuntimeError|unreachable|Out of memory|exceeded|Uncaught/i.test(l));
  const bad = Object.keys(statuses).filter((k) => / 5\d\d$| throw /.test(k));
  if (faults.length || bad.length) {
    console.log("soak FAILED:", JSON.stringify(bad), JSON.stringify(firstBodies), "\n" + faults.slice(0, 20).join("\n"));
    process.exitCode = 1;
  } else {
    console.log("soak: no 5xx, no failed request, no restart, panic or trap logged");
  }
} finally {
  await wd.stop(); stripe.close(); psql(`DROP TABLE IF EXISTS ${TABLE}`);
}
process.exit(process.exitCode ?? 0);
