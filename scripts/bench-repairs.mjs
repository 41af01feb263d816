// Repair benchmark (a script that prints figures, not a test), through `wrangler dev`:
// BENCH_REPAIRS (200) locked-out customers, each suggested a grant by a check, then approved one
// after another: the approve-to-verified latency (p50/p99) of `POST …/repairs/{rid}/approve`,
// which answers only once the repair executed and the re-check verified it, and the database
// round trips per repair, counted by a TCP proxy in front of the test PostgreSQL (a round trip
// is a burst the client sends after the server last spoke), split by session: the repair
// transaction on the repair credential and the verifying read on the read credential.
import { createServer, connect } from "node:net";
import { randomBytes } from "node:crypto";
import { NO_LIMITS, env, pct, psql, startWrangler, stripeServer } from "./bench-lib.mjs";

const N = Number(process.env.BENCH_REPAIRS ?? 200);
const PORT = Number(process.env.BENCH_REPAIR_PORT ?? 8797);
const TABLE = "scratch.bench_repairs";
const CUSTOMERS = Array.from({ length: N }, (_, i) => `cus_rep${String(i).padStart(5, "0")}`);

// ---- a proxy that counts round trips per connection, by the user it logs in as ---------------
const trips = []; // {user, trips}
const proxy = createServer((client) => {
  const conn = { user: "?", trips: 0 };
  trips.push(conn);
  let last = "server";
  const server = connect(Number(env("PR_PG_PORT")), "127.0.0.1");
  client.on("data", (d) => {
    if (conn.user === "?") {
      const m = /user\0([^\0]+)\0/.exec(d.toString("latin1"));
      if (m) conn.user = m[1];
    }
    if (last === "server") conn.trips += 1;
    last = "client";
    server.write(d);
  });
  server.on("data", (d) => {
    last = "server";
    client.write(d);
  });
  const end = () => { client.destroy(); server.destroy(); };
  client.on("error", end).on("close", end);
  server.on("error", end).on("close", end);
});
await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
const viaProxy = (url) => url.replace(/@127\.0\.0\.1:\d+\//, `@127.0.0.1:${proxy.address().port}/`);

const stripe = await stripeServer();
psql(`DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (stripe_customer_id text PRIMARY KEY, plan text NOT NULL, is_premium boolean NOT NULL);
      GRANT SELECT, UPDATE (plan, is_premium) ON ${TABLE} TO pr_repairer`);
psql(`INSERT INTO ${TABLE} VALUES ${CUSTOMERS.map((c) => `('${c}', 'free', false)`).join(", ")}`);

const wd = await startWrangler(PORT, {
  STRIPE_API_BASE: stripe.base,
  ...NO_LIMITS,
}, "bench-repairs");
const { call } = wd;

try {
  const org = await call("POST", "/v1/operator/orgs", wd.op, { name: "Bench", owner_email: "repairs@example.com" });
  const key = (await call("POST", "/v1/keys", org.key.key, { name: "bench", environment: "test", capability: "repair" })).key;
  const pid = (await call("POST", "/v1/projects", key, { name: "repairs" })).id;
  await call("PUT", `/v1/projects/${pid}/integrations/database`, key, {
    read_url: viaProxy(env("PR_PG_READER_URL")),
    repair_url: viaProxy(env("PR_PG_REPAIRER_URL")),
  });
  await call("PUT", `/v1/projects/${pid}/integrations/stripe`, key, { api_key: `sk_test_${randomBytes(12).toString("hex")}`, webhook_secrets: [] });
  await call("PUT", `/v1/projects/${pid}/mapping`, key, { table: TABLE, customer_column: "stripe_customer_id", plan_column: "plan", premium_column: "is_premium", plans: { price_pro: { plan: "pro", rank: 1 } }, free_plan: "free" });
  for (const c of CUSTOMERS) await call("POST", `/v1/projects/${pid}/customers/${c}/check`, key);
  const pending = [];
  for (let cursor = ""; ;) {
    const page = await call("GET", `/v1/projects/${pid}/repairs?status=pending&limit=100${cursor ? `&cursor=${cursor}` : ""}`, key);
    pending.push(...page.data);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  if (pending.length !== N) throw new Error(`expected ${N} pending repairs, found ${pending.length}`);
  const before = trips.length;
  const latency = [];
  for (const r of pending) {
    const s = performance.now();
    const done = await call("POST", `/v1/projects/${pid}/repairs/${r.id}/approve`, key);
    latency.push(performance.now() - s);
    if (done.status !== "verified") throw new Error(`repair ${r.id} ended ${done.status}: ${done.error}`);
  }
  const conns = trips.slice(before);
  const of = (user) => conns.filter((c) => c.user === user);
  const avg = (cs) => cs.reduce((a, c) => a + c.trips, 0) / Math.max(1, cs.length);
  const repairConns = of("pr_repairer");
  const readConns = of("pr_reader");
  const written = Number(psql(`SELECT count(*) FROM ${TABLE} WHERE plan = 'pro' AND is_premium`).trim());

  console.log(`repairs through wrangler dev: ${N} grants approved one after another, each executed and verified`);
  console.log(`  approve-to-verified: p50 ${pct(latency, 50).toFixed(1)} ms, p99 ${pct(latency, 99).toFixed(1)} ms`);
  console.log(`  database round trips per repair: ${avg(repairConns).toFixed(1)} on the repair session (${repairConns.length} sessions, handshake included) + ${avg(readConns).toFixed(1)} on the verifying read session (${readConns.length} sessions)`);
  console.log(`  rows repaired: ${written} of ${N}`);
  console.log(JSON.stringify({ p50: pct(latency, 50), p99: pct(latency, 99), repair_trips: avg(repairConns), read_trips: avg(readConns), written }));
} finally {
  await wd.stop();
  stripe.close();
  proxy.close();
  psql(`DROP TABLE IF EXISTS ${TABLE}`);
}
process.exit(0);
