// Stripe webhooks against the built worker: deliveries signed here with node:crypto (an
// implementation independent of ours), customers and subscriptions in localstripe, the app
// table in PostgreSQL, the outbox drained by the project's coordinator.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { startWorker } from "./harness.mjs";
import { errorOf, newKey, newOrg, newProject } from "./fixtures.mjs";
import { FAST, VENV, appRow, env, mappingFor, scenarioCustomers, scratchTable, sql, wiredProject } from "./reconcile-fixtures.mjs";

const SECRET = `whsec_${randomBytes(16).toString("hex")}`;
const OLD_SECRET = `whsec_${randomBytes(16).toString("hex")}`;
let TABLE, MAPPING;

const now = () => Math.floor(Date.now() / 1000);
const v1 = (secret, body, t) => createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
const signature = (body, { secret = SECRET, t = now() } = {}) => `t=${t},v1=${v1(secret, body, t)}`;

function event(type, object, id = `evt_${randomBytes(10).toString("hex")}`) {
  return JSON.stringify({ id, object: "event", type, created: now(), data: { object } });
}

let w, o, p, bare, c;
const deliver = (body, sig, pid = p.id, headers = {}) =>
  w.request("POST", `/webhooks/stripe/${pid}`, { raw: body, headers: { "content-type": "application/json", ...(sig === undefined ? {} : { "stripe-signature": sig }), ...headers } });

beforeAll(async () => {
  // A low failure budget per address: webhooks must not be subject to it.
  w = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), ...FAST, RATE_LIMIT_IP_PER_MINUTE: "5" });
  c = scenarioCustomers();
  TABLE = scratchTable("hook_accounts");
  MAPPING = mappingFor(TABLE);
  sql(`INSERT INTO ${TABLE} VALUES ${[
    appRow(c.parity, "pro", true, true),
    appRow(c.missing, "free", false, false),
    appRow(c.canceled_granted, "pro", true, true),
    appRow(c.downgrade, "pro", true, true),
  ].join(", ")}`);
  ({ o, p } = await wiredProject(w, { webhookSecrets: [OLD_SECRET, SECRET], mapping: MAPPING }));
  bare = await newProject(w, o.key); // no webhook secret
  const stripeKey = `sk_test_${randomBytes(12).toString("hex")}`;
  expect((await w.put(`/v1/projects/${bare.id}/integrations/stripe`, { api_key: stripeKey, webhook_secrets: [] }, { key: o.key })).status).toBe(200);
}, 120_000);
afterAll(async () => {
  await w?.dispose();
  try { sql(`DROP TABLE IF EXISTS ${TABLE}`); } catch { /* the server may be gone */ }
});

async function counts() {
  const db = await w.d1();
  const ev = await db.prepare("SELECT count(*) AS n FROM webhook_events").first();
  const ob = await db.prepare("SELECT count(*) AS n FROM outbox").first();
  return { events: ev.n, outbox: ob.n };
}

async function openKinds(cus) {
  const r = await w.get(`/v1/projects/${p.id}/incidents?customer=${cus}&status=open`, { key: o.key });
  return r.json.data.map((i) => i.kind).sort();
}

async function eventually(fn, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 150));
  }
}

// After a cron tick: wait until the runs it started ended and the outbox drained, so the next
// test does not race them.
async function settle() {
  await eventually(async () => {
    const runs = (await w.get(`/v1/projects/${p.id}/runs?limit=100`, { key: o.key })).json.data;
    const h = (await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).json;
    return runs.every((r) => r.status !== "running") && h.outbox_pending === 0;
  }, 90_000);
}

const withoutRequestId = (r) => {
  const e = structuredClone(r.json);
  delete e.error.request_id;
  return JSON.stringify(e);
};

describe("verification", () => {
  it("refuses every bad delivery with one identical 400, stores nothing and triggers nothing", async () => {
    const body = event("customer.subscription.deleted", { id: "sub_x", customer: c.canceled_granted });
    const t = now();
    const big = JSON.stringify({ id: "evt_big", type: "x", created: t, pad: "x".repeat(1024 * 1024) });
    const cases = [
      ["no signature", deliver(body, undefined)],
      ["malformed", deliver(body, "nonsense")],
      ["wrong secret", deliver(body, signature(body, { secret: "whsec_not_the_one" }))],
      ["tampered body", deliver(body.replace(c.canceled_granted, c.parity), signature(body))],
      // (The exact 300 s boundary is a native test; here a margin absorbs the request's own
      // delay under load.)
      ["400 s old", deliver(body, signature(body, { t: t - 400 }))],
      ["400 s ahead", deliver(body, signature(body, { t: t + 400 }))],
      ["unknown project", deliver(body, signature(body), "prj_0000000000000000000000")],
      ["malformed project", deliver(body, signature(body), "prj_../../x")],
      ["project without a secret", deliver(body, signature(body), bare.id)],
      ["over 1 MiB", deliver(big, signature(big))],
      ["not an event", deliver("{}", signature("{}"))],
    ];
    const seen = new Set();
    for (const [name, pending] of cases) {
      const r = await pending;
      expect(errorOf(r), name).toMatchObject({ status: 400, code: "invalid_webhook" });
      seen.add(withoutRequestId(r));
    }
    expect(seen.size).toBe(1);
    expect(await counts()).toEqual({ events: 0, outbox: 0 });
  });

  it("one sender's failures never lock out deliveries from the same address (Stripe's are shared)", async () => {
    const ip = "198.51.100.7";
    const bad = event("customer.subscription.updated", { id: "sub_f", customer: c.parity });
    for (let i = 0; i < 10; i++) {
      expect((await w.request("POST", `/webhooks/stripe/${p.id}`, { raw: bad, ip, headers: { "stripe-signature": signature(bad, { secret: "whsec_wrong" }) } })).status).toBe(400);
    }
    const good = event("charge.refunded", { id: "ch_2", customer: c.parity });
    const r = await w.request("POST", `/webhooks/stripe/${p.id}`, { raw: good, ip, headers: { "stripe-signature": signature(good) } });
    expect(r.status, r.text).toBe(200);
  });

  it("a live-mode event is refused by a test project, with the same 400", async () => {
    const live = JSON.stringify({ id: `evt_${randomBytes(8).toString("hex")}`, object: "event", type: "customer.subscription.deleted", livemode: true, created: now(), data: { object: { id: "sub_l", customer: c.parity } } });
    const r = await deliver(live, signature(live));
    expect(errorOf(r)).toMatchObject({ status: 400, code: "invalid_webhook" });
    const test = live.replace('"livemode":true', '"livemode":false');
    expect((await deliver(test, signature(test))).status).toBe(200);
  });

  it("accepts any v1 value under either secret while the secrets rotate", async () => {
    const body = event("charge.succeeded", { id: "ch_1", customer: c.parity });
    const t = now();
    const several = `t=${t},v1=${"0".repeat(64)},v1=${v1(OLD_SECRET, body, t)}`;
    const r = await deliver(body, several);
    expect(r.status, r.text).toBe(200);
    expect(r.json).toEqual({ received: true, duplicate: false });
  });
});

describe("a storm of events", () => {
  it("reads Stripe at most once per customer per drain (50 events for each of 4 customers)", async () => {
    // A proxy in front of localstripe that counts each customer's re-reads.
    const { createServer, request } = await import("node:http");
    const upstream = new URL(env("PR_STRIPE_BASE"));
    const reads = new Map();
    const proxy = createServer((req, res) => {
      const m = /^\/v1\/customers\/(cus_\w+)$/.exec(req.url.split("?")[0]);
      if (m) reads.set(m[1], (reads.get(m[1]) ?? 0) + 1);
      const up = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
    const sw = await startWorker({ ...FAST, STRIPE_API_BASE: `http://127.0.0.1:${proxy.address().port}` });
    try {
      const owner = (await sw.post("/v1/operator/orgs", { name: "Storm", owner_email: "s@example.com" }, { key: (await import("./harness.mjs")).OPERATOR_TOKEN })).json;
      const key = (await newKey(sw, owner.key.key, { environment: "test" })).key;
      const sp = await newProject(sw, key);
      expect((await sw.put(`/v1/projects/${sp.id}/integrations/database`, { read_url: env("PR_PG_TLS_READER_URL") }, { key })).status).toBe(200);
      expect((await sw.put(`/v1/projects/${sp.id}/integrations/stripe`, { api_key: `sk_test_${randomBytes(12).toString("hex")}`, webhook_secrets: [SECRET] }, { key })).status).toBe(200);
      expect((await sw.put(`/v1/projects/${sp.id}/mapping`, MAPPING, { key })).status).toBe(200);
      const customers = [c.parity, c.missing, c.canceled_granted, c.stripe_only];
      const bodies = Array.from({ length: 200 }, (_, i) => event("customer.subscription.updated", { id: `sub_s${i}`, customer: customers[i % 4] }));
      const results = await Promise.all(bodies.map((b) => sw.request("POST", `/webhooks/stripe/${sp.id}`, { raw: b, headers: { "content-type": "application/json", "stripe-signature": signature(b) } })));
      for (const r of results) expect(r.status, r.text).toBe(200);
      const until = Date.now() + 60_000;
      while ((await sw.get(`/v1/projects/${sp.id}/webhooks/health`, { key })).json.outbox_pending > 0) {
        if (Date.now() > until) throw new Error("outbox not drained");
        await new Promise((r) => setTimeout(r, 200));
      }
      const drains = sw.logs.join("").split("\n").filter((l) => l.includes(`"drain":"${sp.id}"`) && !l.includes('"customers":0')).length;
      const perCustomer = customers.map((cus) => reads.get(cus) ?? 0);
      for (const n of perCustomer) {
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThanOrEqual(drains);
      }
      const total = perCustomer.reduce((a, b) => a + b, 0);
      console.log(JSON.stringify({ storm: { events: 200, customers: 4, drains, customer_reads: total, reads_per_event: total / 200 } }));
      expect(total).toBeLessThan(200 / 5);
    } finally {
      await sw.dispose();
      proxy.close();
    }
  }, 120_000);
});

describe("durable acknowledgement and processing", () => {
  it("a cancellation opens the unpaid_access incident with no API call, as system:webhook", async () => {
    const body = event("customer.subscription.deleted", { id: "sub_c", object: "subscription", customer: c.canceled_granted });
    const before = await counts();
    const r = await deliver(body, signature(body));
    expect(r.status, r.text).toBe(200);
    expect(await counts()).toEqual({ events: before.events + 1, outbox: before.outbox + 1 });
    const kinds = await eventually(async () => {
      const k = await openKinds(c.canceled_granted);
      return k.length ? k : null;
    });
    expect(kinds).toEqual(["entitlement_mismatch", "unpaid_access"]);
    const audit = (await w.get(`/v1/projects/${p.id}/audit?limit=100`, { key: o.key })).json.data;
    expect(audit.filter((e) => e.action === "incident.opened").every((e) => e.actor === "system:webhook")).toBe(true);
    // Done only after the check: nothing pending.
    const h = await eventually(async () => {
      const x = (await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).json;
      return x.outbox_pending === 0 ? x : null;
    });
    expect(h.events_received).toBeGreaterThanOrEqual(2);
    expect(h.events_recovered).toBe(0);
  });

  it("a duplicate delivery is acknowledged and does nothing; an event that cannot change access asks for no check", async () => {
    const body = event("customer.subscription.updated", { id: "sub_d", customer: c.downgrade });
    const first = await deliver(body, signature(body));
    const before = await counts();
    const again = await deliver(body, signature(body));
    expect(first.json).toEqual({ received: true, duplicate: false });
    expect(again.json).toEqual({ received: true, duplicate: true });
    expect(await counts()).toEqual(before);
    const quiet = event("product.updated", { id: "prod_x" });
    expect((await deliver(quiet, signature(quiet))).status).toBe(200);
    expect(await counts()).toEqual({ events: before.events + 1, outbox: before.outbox });
  });

  it("the payload decides nothing: a stale 'active' event for a canceled customer does not resolve its incident", async () => {
    const stale = event("customer.subscription.created", { id: "sub_old", status: "active", customer: c.canceled_granted });
    expect((await deliver(stale, signature(stale))).status).toBe(200);
    await eventually(async () => (await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).json.outbox_pending === 0);
    expect(await openKinds(c.canceled_granted)).toEqual(["entitlement_mismatch", "unpaid_access"]);
  });

  it("200 concurrent events for a few customers are all acknowledged, none lost, the chain valid", async () => {
    const customers = [c.parity, c.missing, c.downgrade, c.canceled_granted];
    const bodies = Array.from({ length: 200 }, (_, i) => event("customer.subscription.updated", { id: `sub_${i}`, customer: customers[i % customers.length] }));
    const before = await counts();
    const results = await Promise.all(bodies.map((b) => deliver(b, signature(b))));
    for (const r of results) expect(r.status, r.text).toBe(200);
    expect(results.filter((r) => r.json.duplicate)).toEqual([]);
    expect(await counts()).toEqual({ events: before.events + 200, outbox: before.outbox + 200 });
    await eventually(async () => (await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).json.outbox_pending === 0, 60_000);
    const db = await w.d1();
    expect((await db.prepare("SELECT count(*) AS n FROM outbox WHERE status = 'done'").first()).n).toBe(before.outbox + 200);
    expect(await openKinds(c.missing)).toEqual(["entitlement_mismatch", "missing_access"]);
    const v = await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key });
    expect(v.json).toMatchObject({ ok: true });
    expect(w.logs.join("")).not.toContain("audit_contention");
  }, 90_000);

  it("a change whose webhook never arrived is found through the Events API by the cron", async () => {
    const base = env("PR_STRIPE_BASE");
    const auth = { authorization: "Bearer sk_test_parityrail_events" };
    const subs = await (await fetch(`${base}/v1/subscriptions?customer=${c.downgrade}`, { headers: auth })).json();
    expect(subs.data.length).toBeGreaterThan(0);
    for (const s of subs.data) {
      const d = await fetch(`${base}/v1/subscriptions/${s.id}`, { method: "DELETE", headers: auth });
      expect(d.status).toBe(200);
    }
    await w.scheduled();
    const kinds = await eventually(async () => {
      const k = await openKinds(c.downgrade);
      return k.includes("unpaid_access") ? k : null;
    }, 60_000);
    expect(kinds).toContain("unpaid_access");
    const h = (await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).json;
    expect(h.events_recovered).toBeGreaterThanOrEqual(1);
    expect(h.newest_event_created).toBeGreaterThan(0);
    const db = await w.d1();
    const found = await db.prepare("SELECT source FROM webhook_events WHERE customer = ? AND kind = 'customer.subscription.deleted' AND source = 'events_api'").bind(c.downgrade).first();
    expect(found).not.toBeNull();
    // A dropped event followed by a delivered later one: the delivery does not hide it.
    const parity = await (await fetch(`${base}/v1/subscriptions?customer=${c.parity}`, { headers: auth })).json();
    for (const s of parity.data) expect((await fetch(`${base}/v1/subscriptions/${s.id}`, { method: "DELETE", headers: auth })).status).toBe(200);
    const later = JSON.stringify({ id: `evt_${randomBytes(8).toString("hex")}`, object: "event", type: "customer.updated", created: now() + 5, data: { object: { id: c.missing } } });
    expect((await deliver(later, signature(later))).status).toBe(200);
    await w.scheduled();
    await eventually(async () => (await openKinds(c.parity)).includes("unpaid_access"), 60_000);
    expect(await db.prepare("SELECT source FROM webhook_events WHERE customer = ? AND kind = 'customer.subscription.deleted' AND source = 'events_api'").bind(c.parity).first()).not.toBeNull();
    await settle();
  }, 180_000);

  it("done outbox rows are pruned 30 days after their check; pending and recent rows stay", async () => {
    const db = await w.d1();
    const done = (await db.prepare("SELECT id FROM outbox WHERE project_id = ? AND status = 'done' ORDER BY id LIMIT 2").bind(p.id).all()).results;
    expect(done).toHaveLength(2);
    const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
    await db.prepare("UPDATE outbox SET done_at = ? WHERE id = ?").bind(old, done[0].id).run();
    const pendingBefore = (await db.prepare("SELECT count(*) AS n FROM outbox WHERE status = 'pending'").first()).n;
    await w.scheduled();
    const left = async (id) => (await db.prepare("SELECT count(*) AS n FROM outbox WHERE id = ?").bind(id).first()).n;
    expect(await left(done[0].id)).toBe(0);
    expect(await left(done[1].id)).toBe(1);
    expect((await db.prepare("SELECT count(*) AS n FROM outbox WHERE status = 'pending'").first()).n).toBeGreaterThanOrEqual(pendingBefore);
    expect(w.logs.join("")).toMatch(/"outbox_rows_pruned":[1-9]/);
  });

  it("recorded events are pruned 90 days after they were received, unless a pending outbox row still needs one", async () => {
    const db = await w.d1();
    const events = (await db.prepare("SELECT event_id, customer FROM webhook_events WHERE project_id = ? AND customer IS NOT NULL ORDER BY event_id LIMIT 3").bind(p.id).all()).results;
    expect(events).toHaveLength(3);
    const [gone, held, recent] = events;
    const old = new Date(Date.now() - 91 * 86_400_000).toISOString();
    // An old Stripe `created` alone does not make an event old: retention is by our own clock.
    await db.prepare("UPDATE webhook_events SET created = 0 WHERE project_id = ? AND event_id = ?").bind(p.id, recent.event_id).run();
    for (const e of [gone, held]) await db.prepare("UPDATE webhook_events SET received_at = ? WHERE project_id = ? AND event_id = ?").bind(old, p.id, e.event_id).run();
    // `gone` has only a done outbox row; `held` has a pending one due only in a week (a check
    // still owed).
    const row = (id, event, status, next) =>
      db.prepare("INSERT INTO outbox (id, org_id, project_id, customer, event_id, status, created_at, next_attempt_at, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(id, o.org.id, p.id, event.customer, event.event_id, status, new Date().toISOString(), next, status === "done" ? new Date().toISOString() : null).run();
    for (const e of [gone, held]) await db.prepare("DELETE FROM outbox WHERE project_id = ? AND event_id = ?").bind(p.id, e.event_id).run();
    await row(`obx_${randomBytes(8).toString("hex")}`, gone, "done", new Date().toISOString());
    const owed = `obx_${randomBytes(8).toString("hex")}`;
    await row(owed, held, "pending", new Date(Date.now() + 7 * 86_400_000).toISOString());
    const kept = async (id) => (await db.prepare("SELECT count(*) AS n FROM webhook_events WHERE project_id = ? AND event_id = ?").bind(p.id, id).first()).n;
    await w.scheduled();
    expect(await kept(gone.event_id)).toBe(0);
    expect(await kept(held.event_id)).toBe(1);
    expect(await kept(recent.event_id)).toBe(1);
    expect(w.logs.join("")).toMatch(/"webhook_events_pruned":[1-9]/);
    // The owed check is this test's own: the tests after it wait for an empty outbox.
    await db.prepare("DELETE FROM outbox WHERE id = ?").bind(owed).run();
  });

  // A worker with `vars` and one project in each of `counts.length` orgs, in the order the cron
  // walks them (by org id), the i-th holding counts[i] recorded events past their retention.
  async function pruneScenario(vars, counts) {
    const pw = await startWorker(vars);
    const db = await pw.d1();
    const made = [];
    for (const _ of counts) {
      const org = await newOrg(pw);
      made.push({ org: org.org.id, project: (await newProject(pw, org.key)).id });
    }
    made.sort((a, b) => (a.org < b.org ? -1 : 1));
    const old = new Date(Date.now() - 91 * 86_400_000).toISOString();
    const seed = (at, n) =>
      db.prepare("WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?) INSERT INTO webhook_events (org_id, project_id, event_id, kind, customer, created, source, received_at) SELECT ?, ?, 'evt_' || lower(hex(randomblob(8))) || '_' || i, 'customer.updated', 'cus_x', 0, 'webhook', ? FROM k")
        .bind(n, at.org, at.project, old).run();
    for (const [i, n] of counts.entries()) await seed(made[i], n);
    const left = async () => (await db.prepare("SELECT count(*) AS n FROM webhook_events").first()).n;
    const tick = async () => {
      const before = pw.logs.length;
      await pw.scheduled();
      return Number(/"webhook_events_pruned":(\d+)/.exec(pw.logs.slice(before).join(""))?.[1]);
    };
    return { pw, made, seed, left, tick };
  }

  it("pruning visits at most CRON_PRUNE_ORGS_PER_TICK orgs a tick, goes on from there, and starts a new pass from the first", async () => {
    const s = await pruneScenario({ CRON_PRUNE_ORGS_PER_TICK: "1" }, [1, 1, 1]);
    try {
      expect(await s.tick()).toBe(1);
      expect(await s.left()).toBe(2);
      expect(await s.tick()).toBe(1);
      expect(await s.left()).toBe(1);
      expect(await s.tick()).toBe(1);
      expect(await s.left()).toBe(0);
      // The pass is over: the next tick is the first org's again.
      await s.seed(s.made[0], 1);
      expect(await s.tick()).toBe(1);
      expect(await s.left()).toBe(0);
    } finally {
      await s.pw.dispose();
    }
  });

  it("pruning sends at most its share of CRON_PRUNE_STATEMENTS_PER_TICK; an org with rows left is where the next tick starts", async () => {
    // 6 statements a tick for the three prune jobs: two each, at most one an org, 500 rows each.
    const s = await pruneScenario({ CRON_PRUNE_STATEMENTS_PER_TICK: "6" }, [1, 501, 1]);
    try {
      const orgsLeft = async () => (await (await s.pw.d1()).prepare("SELECT DISTINCT org_id FROM webhook_events ORDER BY org_id").all()).results.map((r) => r.org_id);
      expect(await s.tick()).toBe(501);
      expect(await s.left()).toBe(2);
      expect(await orgsLeft()).toEqual([s.made[1].org, s.made[2].org]);
      // Not passed over: the heavy org's last row goes first, then the walk goes on.
      expect(await s.tick()).toBe(2);
      expect(await s.left()).toBe(0);
    } finally {
      await s.pw.dispose();
    }
  });

  it("an org with more rows than it may delete in a tick it began does not hold up the others", async () => {
    // One statement per job a tick: the tick that begins with the heavy org moves past it.
    const s = await pruneScenario({ CRON_PRUNE_STATEMENTS_PER_TICK: "3" }, [501, 1]);
    try {
      expect(await s.tick()).toBe(500);
      expect(await s.tick()).toBe(1);
      const db = await s.pw.d1();
      const left = (await db.prepare("SELECT org_id FROM webhook_events").all()).results.map((r) => r.org_id);
      expect(left).toEqual([s.made[0].org]);
      // The next pass comes back for it.
      expect(await s.tick()).toBe(1);
      expect(await s.left()).toBe(0);
    } finally {
      await s.pw.dispose();
    }
  });

  it("the cron's recovery budget holds inside one org: its projects are spread over ticks", async () => {
    const bw = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), CRON_EVENT_PROJECTS_PER_TICK: "1", ...FAST });
    try {
      const { o: bo, p: first } = await wiredProject(bw, { mapping: MAPPING });
      const second = await newProject(bw, bo.key);
      expect((await bw.put(`/v1/projects/${second.id}/integrations/database`, { read_url: env("PR_PG_TLS_READER_URL") }, { key: bo.key })).status).toBe(200);
      expect((await bw.put(`/v1/projects/${second.id}/integrations/stripe`, { api_key: `sk_test_${randomBytes(12).toString("hex")}` }, { key: bo.key })).status).toBe(200);
      expect((await bw.put(`/v1/projects/${second.id}/mapping`, MAPPING, { key: bo.key })).status).toBe(200);
      const db = await bw.d1();
      const walked = async () =>
        (await db.prepare("SELECT job FROM job_state WHERE job LIKE 'events:prj_%' ORDER BY job").all()).results.map((r) => r.job.slice(7));
      await bw.scheduled();
      const once = await walked();
      expect(once).toHaveLength(1);
      await bw.scheduled();
      expect((await walked()).sort()).toEqual([first.id, second.id].sort());
    } finally {
      await bw.dispose();
    }
  }, 60_000);

  it("a gap older than Stripe's 30 days starts one full run and the walk starts again from now", async () => {
    const db = await w.d1();
    const old = Math.floor(Date.now() / 1000) - 31 * 86_400;
    await db.prepare("UPDATE job_state SET cursor = ? WHERE job = ?").bind(JSON.stringify({ since: old }), `events:${p.id}`).run();
    const gaps = () => w.logs.join("").split("\n").filter((l) => l.includes("unrecoverable_gap_secs") && l.includes(p.id)).length;
    expect(gaps()).toBe(0);
    await w.scheduled();
    expect(gaps()).toBe(1);
    const h = (await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).json;
    expect(h.unrecoverable_gap).toMatchObject({ gap_from: old });
    // A full run answers it (started now, or already going).
    const runs = (await w.get(`/v1/projects/${p.id}/runs?limit=100`, { key: o.key })).json.data;
    expect(runs.some((r) => r.trigger === "cron")).toBe(true);
    const state = JSON.parse((await db.prepare("SELECT cursor FROM job_state WHERE job = ?").bind(`events:${p.id}`).first()).cursor);
    expect(Math.floor(Date.now() / 1000) - state.since).toBeLessThan(3600);
    // The walk starts again from now: the next tick finds no gap.
    await w.scheduled();
    expect(gaps()).toBe(1);
    await settle();
  }, 180_000);

  it("localstripe delivers signed webhooks: an upgrade resolves plan_mismatch and a cancellation opens unpaid_access, with no API call", async () => {
    const base = env("PR_STRIPE_BASE");
    const hook = `parityrail_${randomBytes(6).toString("hex")}`;
    const register = (url, events) => fetch(`${base}/_config/webhooks/${hook}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams([["url", url], ["secret", SECRET], ...events.map((e) => ["events[]", e])]),
    });
    const url = new URL(`/webhooks/stripe/${p.id}`, await w.mf.ready).toString();
    const types = ["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"];
    expect((await register(url, types)).status).toBe(200);
    const py = (...args) => JSON.parse(execFileSync(`${VENV}/bin/python`, ["tests/stripe/hook_scenario.py", base, ...args], { encoding: "utf8" }));
    try {
      const before = (await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).json.events_received;
      const x = py("customers");
      const row = (cus) => `('${cus}', 'pro', true, false, true)`;
      sql(`INSERT INTO ${TABLE} VALUES ${row(x.a)}, ${row(x.b)}`);
      // a pays basic and is granted pro: the created event's check opens plan_mismatch.
      const a = py("subscribe", x.a, "plan_basic").subscription;
      await eventually(async () => (await openKinds(x.a)).includes("plan_mismatch"), 30_000);
      // The upgrade's event resolves it.
      py("upgrade", a);
      await eventually(async () => (await openKinds(x.a)).length === 0, 30_000);
      const resolved = (await w.get(`/v1/projects/${p.id}/incidents?customer=${x.a}&status=resolved`, { key: o.key })).json.data;
      expect(resolved.map((i) => i.kind)).toContain("plan_mismatch");
      // b pays pro and is granted pro: parity until the subscription is canceled.
      const b = py("subscribe", x.b, "plan_pro").subscription;
      await eventually(async () => (await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).json.outbox_pending === 0, 30_000);
      expect(await openKinds(x.b)).toEqual([]);
      py("cancel", b);
      const kinds = await eventually(async () => {
        const k = await openKinds(x.b);
        return k.includes("unpaid_access") ? k : null;
      }, 30_000);
      expect(kinds).toEqual(["entitlement_mismatch", "unpaid_access"]);
      const after = (await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).json.events_received;
      expect(after).toBeGreaterThan(before);
      expect((await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key })).json).toMatchObject({ ok: true });
    } finally {
      // Stop this hook: localstripe is shared and outlives this worker.
      await register("http://127.0.0.1:9/", ["nothing.ever"]);
    }
  }, 90_000);

  it("a check that fails stays pending with backoff, and the cron's wake retries it once it can succeed", async () => {
    const put = (read_url) => w.put(`/v1/projects/${p.id}/integrations/database`, { read_url }, { key: o.key });
    expect((await put("postgres://u:pw@127.0.0.1:1/app?sslmode=disable")).status).toBe(200);
    const db = await w.d1();
    const body = event("customer.subscription.updated", { id: "sub_r", customer: c.missing });
    const id = JSON.parse(body).id;
    try {
      expect((await deliver(body, signature(body))).status).toBe(200);
      const row = await eventually(async () => {
        const r = await db.prepare("SELECT status, attempts, last_error, next_attempt_at FROM outbox WHERE event_id = ?").bind(id).first();
        return r && r.attempts > 0 ? r : null;
      });
      expect(row).toMatchObject({ status: "pending", last_error: "database_unreachable" });
      expect(Date.parse(row.next_attempt_at)).toBeGreaterThan(Date.now());
    } finally {
      expect((await put(env("PR_PG_TLS_READER_URL"))).status).toBe(200);
    }
    // Due now: the cron wakes the coordinator, the check succeeds, the row is done.
    await db.prepare("UPDATE outbox SET next_attempt_at = '2001-01-01T00:00:00.000Z' WHERE event_id = ?").bind(id).run();
    await w.scheduled();
    await eventually(async () => (await db.prepare("SELECT status FROM outbox WHERE event_id = ?").bind(id).first()).status === "done", 60_000);
    await settle();
  }, 120_000);

  it("a check only a person can unblock (two app rows for the customer) is retried daily, not hourly", async () => {
    const dup = `cus_dup${randomBytes(6).toString("hex")}`;
    sql(`INSERT INTO ${TABLE} VALUES ${appRow(dup, "pro", true, true)}, ${appRow(dup, "free", false, false)}`);
    const body = event("customer.updated", { id: dup });
    const id = JSON.parse(body).id;
    expect((await deliver(body, signature(body))).status).toBe(200);
    const db = await w.d1();
    const row = await eventually(async () => {
      const r = await db.prepare("SELECT status, attempts, last_error, next_attempt_at FROM outbox WHERE event_id = ?").bind(id).first();
      return r && r.attempts > 0 ? r : null;
    });
    expect(row).toMatchObject({ status: "pending", last_error: "duplicate_app_rows" });
    expect(Date.parse(row.next_attempt_at) - Date.now()).toBeGreaterThan(23 * 3600e3);
    expect(await openKinds(dup)).toEqual([]);
    // Someone fixes it and saves the mapping: the row is due at once, and the cron's wake
    // checks it.
    sql(`DELETE FROM ${TABLE} WHERE stripe_customer_id = '${dup}' AND plan = 'free'`);
    expect((await w.put(`/v1/projects/${p.id}/mapping`, MAPPING, { key: o.key })).status).toBe(200);
    const due = await db.prepare("SELECT next_attempt_at FROM outbox WHERE event_id = ?").bind(id).first();
    expect(Date.parse(due.next_attempt_at)).toBeLessThanOrEqual(Date.now());
    await w.scheduled();
    await eventually(async () => (await db.prepare("SELECT status FROM outbox WHERE event_id = ?").bind(id).first()).status === "done", 60_000);
    await settle();
  }, 120_000);

  it("health is a read route of the project only", async () => {
    expect((await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: o.key })).status).toBe(200);
    const other = await newOrg(w);
    expect(errorOf(await w.get(`/v1/projects/${p.id}/webhooks/health`, { key: other.key }))).toMatchObject({ status: 404 });
  });
});
