// Full reconcile runs against real components: localstripe (shared with other files, so only
// this file's customers are asserted exactly), a table of this file's own in PostgreSQL, and the
// built worker with its ProjectCoordinator Durable Object doing the run step by step on alarms.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { OPERATOR_TOKEN, startWorker } from "./harness.mjs";
import { errorOf, newKey, newProject } from "./fixtures.mjs";
import { FAST as FAST_STRIPE, appRow, env, mappingFor, scenarioCustomers, scratchTable, sql, wiredProject } from "./reconcile-fixtures.mjs";

// Small batches (3 app rows, 40 Stripe customers a step) so a run takes many steps and ranges
// split between this file's customers.
const FAST = { ...FAST_STRIPE, RUN_APP_BATCH: "3", RUN_STRIPE_BATCH: "40" };
let TABLE, MAPPING;

const EXPECTED = {
  parity: [],
  missing: ["entitlement_mismatch", "missing_access"],
  canceled_granted: ["entitlement_mismatch", "unpaid_access"],
  grace: [], // incomplete keeps current access: never a revocation
  downgrade: ["entitlement_mismatch", "plan_mismatch"],
  stripe_only: ["unknown_customer"], // paying, no app row
  no_subscription: [],
  ghost: ["unknown_customer"], // an app row naming a customer Stripe does not have
};

let w, o, p, c;
beforeAll(async () => {
  w = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), ...FAST });
  c = scenarioCustomers();
  c.ghost = `cus_ghost${randomBytes(6).toString("hex")}`;
  TABLE = scratchTable("run_accounts");
  MAPPING = mappingFor(TABLE);
  sql(`INSERT INTO ${TABLE} VALUES ${[
    appRow(c.parity, "pro", true, true),
    appRow(c.missing, "free", false, false),
    appRow(c.canceled_granted, "pro", true, true),
    appRow(c.grace, "pro", true, true),
    appRow(c.downgrade, "pro", true, true),
    appRow(c.no_subscription, "free", false, false),
    appRow(c.ghost, "free", false, false),
  ].join(", ")}`);
  ({ o, p } = await wiredProject(w, { mapping: MAPPING }));
}, 120_000);
afterAll(async () => {
  await w?.dispose();
  try { sql(`DROP TABLE IF EXISTS ${TABLE}`); } catch { /* the server may be gone */ }
});

const start = () => w.post(`/v1/projects/${p.id}/runs`, undefined, { key: o.key });
const getRun = (id) => w.get(`/v1/projects/${p.id}/runs/${id}`, { key: o.key });

async function finished(id, timeoutMs = 90_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await getRun(id);
    expect(r.status, r.text).toBe(200);
    if (r.json.status !== "running") return r.json;
    if (Date.now() > until) throw new Error(`run ${id} still running: ${r.text}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function incidentsOf(cus, status) {
  const q = status ? `&status=${status}` : "";
  const r = await w.get(`/v1/projects/${p.id}/incidents?customer=${cus}&limit=100${q}`, { key: o.key });
  expect(r.status, r.text).toBe(200);
  return r.json.data;
}

const openKinds = async (cus) => (await incidentsOf(cus, "open")).map((i) => i.kind).sort();

async function auditEntries() {
  const out = [];
  let cursor = "";
  do {
    const r = await w.get(`/v1/projects/${p.id}/audit?limit=100${cursor ? `&cursor=${cursor}` : ""}`, { key: o.key });
    expect(r.status, r.text).toBe(200);
    out.push(...r.json.data);
    cursor = r.json.next_cursor;
  } while (cursor);
  return out;
}

async function verifyChain() {
  const v = await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key });
  expect(v.status, v.text).toBe(200);
  expect(v.json).toMatchObject({ ok: true });
}

describe("a full run", () => {
  let first;

  it("answers 202 with a running run, and a second start while it goes is 409 with its id", async () => {
    const r = await start();
    expect(r.status, r.text).toBe(202);
    expect(r.json).toMatchObject({ status: "running", trigger: "api", customers_checked: 0, finished_at: null });
    expect(r.json.id).toMatch(/^run_/);
    first = r.json.id;
    const again = await start();
    expect(errorOf(again)).toMatchObject({ status: 409, code: "run_in_progress" });
    expect(again.json.error.run_id).toBe(first);
  });

  it("finds exactly the expected incidents for every kind of customer, without a request per customer", async () => {
    const run = await finished(first);
    expect(run.status, JSON.stringify(run)).toBe("succeeded");
    expect(run.errors).toEqual([]);
    expect(run.customers_checked).toBeGreaterThanOrEqual(Object.keys(EXPECTED).length);
    expect(run.db_round_trips).toBeGreaterThanOrEqual(1);
    // Pages of 100, not one request per customer: far fewer requests than customers checked.
    expect(run.stripe_requests).toBeGreaterThan(0);
    expect(run.stripe_requests).toBeLessThan(run.customers_checked);
    expect(run.finished_at).not.toBeNull();
    for (const [name, want] of Object.entries(EXPECTED)) {
      expect(await openKinds(c[name]), name).toEqual(want);
    }
    const opened = (await incidentsOf(c.missing, "open")).find((i) => i.kind === "missing_access");
    expect(opened).toMatchObject({ severity: "high", expected: { plan: "pro", premium: true }, actual: { plan: "free", premium: false } });
    await verifyChain();
  });

  it("a second run opens nothing new for these customers", async () => {
    const before = {};
    for (const name of Object.keys(EXPECTED)) before[name] = (await incidentsOf(c[name])).map((i) => i.id).sort();
    const r = await start();
    expect(r.status, r.text).toBe(202);
    const run = await finished(r.json.id);
    expect(run.status).toBe("succeeded");
    for (const name of Object.keys(EXPECTED)) {
      expect((await incidentsOf(c[name])).map((i) => i.id).sort(), name).toEqual(before[name]);
    }
    await verifyChain();
  });

  it("a row fixed by hand resolves its incidents at the next check", async () => {
    sql(`UPDATE ${TABLE} SET plan = 'pro', is_premium = true, feature_sso = true WHERE stripe_customer_id = '${c.missing}'`);
    const r = await w.post(`/v1/projects/${p.id}/customers/${c.missing}/check`, undefined, { key: o.key });
    expect(r.status, r.text).toBe(200);
    expect(await openKinds(c.missing)).toEqual([]);
    const resolved = await incidentsOf(c.missing, "resolved");
    expect(resolved.map((i) => i.kind).sort()).toEqual(["entitlement_mismatch", "missing_access"]);
  });

  it("an ignore made while a run goes is neither lost nor undone by it", async () => {
    const target = (await incidentsOf(c.downgrade, "open")).find((i) => i.kind === "plan_mismatch");
    const r = await start();
    expect(r.status, r.text).toBe(202);
    const ig = await w.post(`/v1/projects/${p.id}/incidents/${target.id}/ignore`, { reason: "grandfathered" }, { key: o.key });
    expect(ig.status, ig.text).toBe(200);
    const run = await finished(r.json.id);
    expect(run.status).toBe("succeeded");
    const now = await incidentsOf(c.downgrade);
    expect(now.find((i) => i.id === target.id)).toMatchObject({ status: "ignored", reason: "grandfathered" });
    expect(now.filter((i) => i.kind === "plan_mismatch" && i.status === "open")).toEqual([]);
    await verifyChain();
  });

  it("lists runs newest first and audits each start and finish", async () => {
    const list = await w.get(`/v1/projects/${p.id}/runs?limit=2`, { key: o.key });
    expect(list.status, list.text).toBe(200);
    expect(list.json.data).toHaveLength(2);
    expect(list.json.next_cursor).not.toBeNull();
    const rest = await w.get(`/v1/projects/${p.id}/runs?cursor=${list.json.next_cursor}`, { key: o.key });
    const ids = [...list.json.data, ...rest.json.data].map((r) => r.id);
    expect(ids.at(-1)).toBe(first);
    expect(new Set(ids).size).toBe(ids.length);
    const audit = await auditEntries();
    expect(audit.filter((e) => e.action === "run.started" && e.target === `run:${first}`)).toHaveLength(1);
    const done = audit.filter((e) => e.action === "run.finished" && e.target === `run:${first}`);
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ actor: "system:reconcile", after: { status: "succeeded" } });
    expect(errorOf(await getRun("run_0000000000000000000000"))).toMatchObject({ status: 404 });
    expect(errorOf(await getRun("nope"))).toMatchObject({ status: 404 });
  });

  it("another project of the same org sees none of this project's runs or incidents", async () => {
    const q = await newProject(w, o.key);
    const inc = (await incidentsOf(c.canceled_granted, "open"))[0];
    expect(errorOf(await w.get(`/v1/projects/${q.id}/runs/${first}`, { key: o.key }))).toMatchObject({ status: 404 });
    expect(errorOf(await w.get(`/v1/projects/${q.id}/incidents/${inc.id}`, { key: o.key }))).toMatchObject({ status: 404 });
    expect(errorOf(await w.post(`/v1/projects/${q.id}/incidents/${inc.id}/ignore`, { reason: "x" }, { key: o.key }))).toMatchObject({ status: 404 });
    expect((await w.get(`/v1/projects/${q.id}/runs`, { key: o.key })).json.data).toEqual([]);
    expect((await w.get(`/v1/projects/${q.id}/incidents?customer=${c.canceled_granted}`, { key: o.key })).json.data).toEqual([]);
    // Without a mapping and integrations it cannot run at all.
    expect(errorOf(await w.post(`/v1/projects/${q.id}/runs`, undefined, { key: o.key }))).toMatchObject({ status: 409, code: "mapping_missing" });
    // A key limited to the other project does not reach this one.
    const scoped = (await newKey(w, o.key, { environment: "test", project_id: q.id })).key;
    expect(errorOf(await w.get(`/v1/projects/${p.id}/runs/${first}`, { key: scoped }))).toMatchObject({ status: 404 });
    expect(errorOf(await w.post(`/v1/projects/${p.id}/runs`, undefined, { key: scoped }))).toMatchObject({ status: 404 });
  });

  it("a database failure mid-run ends it failed with a clear error and keeps earlier incidents", async () => {
    const kept = await openKinds(c.canceled_granted);
    expect(kept.length).toBeGreaterThan(0);
    const put = await w.put(`/v1/projects/${p.id}/integrations/database`, { read_url: "postgres://u:secret-pw@127.0.0.1:1/app?sslmode=disable" }, { key: o.key });
    expect(put.status, put.text).toBe(200);
    try {
      const r = await start();
      expect(r.status, r.text).toBe(202);
      const run = await finished(r.json.id);
      expect(run.status).toBe("failed");
      expect(run.errors.join(" ")).toMatch(/database_unreachable during app/);
      expect(JSON.stringify(run)).not.toContain("secret-pw");
      expect(await openKinds(c.canceled_granted)).toEqual(kept);
      // Another run may start once this one failed.
    } finally {
      const back = await w.put(`/v1/projects/${p.id}/integrations/database`, { read_url: env("PR_PG_TLS_READER_URL") }, { key: o.key });
      expect(back.status).toBe(200);
    }
    await verifyChain();
  });
});

describe("a step that dies after committing its incidents", () => {
  it("is done again without opening duplicates or counting twice", async () => {
    const cw = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), ...FAST, RUN_FAULT_CRASH_AFTER_APPLY: "1" });
    try {
      const owner = (await cw.post("/v1/operator/orgs", { name: "Crash", owner_email: "crash@example.com" }, { key: OPERATOR_TOKEN })).json;
      const key = (await newKey(cw, owner.key.key, { environment: "test" })).key;
      const cp = await newProject(cw, key);
      expect((await cw.put(`/v1/projects/${cp.id}/integrations/database`, { read_url: env("PR_PG_TLS_READER_URL") }, { key })).status).toBe(200);
      expect((await cw.put(`/v1/projects/${cp.id}/integrations/stripe`, { api_key: `sk_test_${randomBytes(12).toString("hex")}`, webhook_secrets: [] }, { key })).status).toBe(200);
      expect((await cw.put(`/v1/projects/${cp.id}/mapping`, MAPPING, { key })).status).toBe(200);
      const r = await cw.post(`/v1/projects/${cp.id}/runs`, undefined, { key });
      expect(r.status, r.text).toBe(202);
      let run;
      for (const until = Date.now() + 90_000; ; ) {
        run = (await cw.get(`/v1/projects/${cp.id}/runs/${r.json.id}`, { key })).json;
        if (run.status !== "running" || Date.now() > until) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      expect(run.status, JSON.stringify(run)).toBe("succeeded");
      expect(cw.logs.join("")).toContain("injected crash after apply"); // the fault fired
      // Exactly the expected incidents, each once (the `missing` row was fixed by hand above).
      for (const [name, want] of Object.entries({ ...EXPECTED, missing: [] })) {
        const all = (await cw.get(`/v1/projects/${cp.id}/incidents?customer=${c[name]}&limit=100`, { key })).json.data;
        expect(all.map((i) => i.kind).sort(), name).toEqual(want);
      }
      // Every customer counted once: no more than a clean run over the same (or, with other
      // files adding Stripe customers meanwhile, more) data counts.
      const again = (await cw.post(`/v1/projects/${cp.id}/runs`, undefined, { key })).json;
      let clean;
      for (const until = Date.now() + 90_000; ; ) {
        clean = (await cw.get(`/v1/projects/${cp.id}/runs/${again.id}`, { key })).json;
        if (clean.status !== "running" || Date.now() > until) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      expect(clean.status).toBe("succeeded");
      expect(run.customers_checked).toBeGreaterThan(0);
      expect(run.customers_checked).toBeLessThanOrEqual(clean.customers_checked);
      // Each opened incident counted exactly once, by the run that opened it (the crashed
      // step's batch counted itself; its repeat re-planned to nothing).
      const db = await cw.d1();
      const openedBy = async (cmp) =>
        (await db.prepare(`SELECT count(*) AS n FROM incidents WHERE project_id = ? AND opened_at ${cmp} ?`).bind(cp.id, run.finished_at).first()).n;
      expect(run.incidents_opened).toBeGreaterThan(0);
      expect(run.incidents_opened).toBe(await openedBy("<="));
      // (Other files may add Stripe customers between the runs: the clean run counts those.)
      expect(clean.incidents_opened).toBe(await openedBy(">"));
      const v = await cw.get(`/v1/projects/${cp.id}/audit/verify`, { key });
      expect(v.json).toMatchObject({ ok: true });
    } finally {
      await cw.dispose();
    }
  }, 120_000);
});

describe("a run its coordinator lost", () => {
  it("is handed over again by the next start, which answers 409 with its id, and then finishes", async () => {
    // A run recorded as going whose hand-over never happened (a request cut short after the
    // insert), silent for more than ten minutes.
    const db = await w.d1();
    const lost = `run_${"L".repeat(22)}`;
    await db.prepare(
      "INSERT INTO runs (id, org_id, project_id, status, trigger_kind, phase, started_at, updated_at) VALUES (?, ?, ?, 'running', 'api', 'subscriptions', '2001-01-01T00:00:00.000Z', '2001-01-01T00:00:00.000Z')",
    ).bind(lost, o.org.id, p.id).run();
    const r = await start();
    expect(errorOf(r)).toMatchObject({ status: 409, code: "run_in_progress" });
    expect(r.json.error.run_id).toBe(lost);
    const run = await finished(lost);
    expect(run.status, JSON.stringify(run)).toBe("succeeded");
    expect((await start()).status).toBe(202);
    const again = (await w.get(`/v1/projects/${p.id}/runs?limit=1`, { key: o.key })).json.data[0];
    await finished(again.id);
  });
});

describe("a Stripe that fails or goes round in circles mid-run", () => {
  // A Stripe-shaped server: one customer with a subscription; `mode` decides what the second
  // page of subscriptions does.
  async function stripeThat(mode) {
    const { createServer } = await import("node:http");
    const server = createServer((req, res) => {
      const url = new URL(req.url, "http://x");
      const send = (status, body) => { res.writeHead(status, { "content-type": "application/json" }); res.end(JSON.stringify(body)); };
      if (url.pathname === "/v1/account") return send(200, { id: "acct_fake" });
      if (url.pathname === "/v1/subscriptions") {
        const sub = { id: "sub_loop", customer: "cus_loop", status: "active", items: { data: [{ id: "si_1", price: { id: "plan_pro", product: "prod_x" } }], has_more: false } };
        if (!url.searchParams.get("starting_after")) return send(200, { data: [sub], has_more: true });
        if (mode === "error500") return send(500, { error: { type: "api_error" } });
        return send(200, { data: [sub], has_more: true }); // the same cursor again, forever
      }
      return send(404, { error: { type: "invalid_request_error" } });
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    return server;
  }

  for (const [mode, code] of [["error500", /stripe_\w+ during subscriptions/], ["loop", /stripe_pagination during subscriptions/]]) {
    it(`${mode}: the run ends failed with a clear error`, async () => {
      const server = await stripeThat(mode);
      const fw = await startWorker({ ...FAST, STRIPE_API_BASE: `http://127.0.0.1:${server.address().port}` });
      try {
        const owner = (await fw.post("/v1/operator/orgs", { name: "Fake", owner_email: "f@example.com" }, { key: OPERATOR_TOKEN })).json;
        const key = (await newKey(fw, owner.key.key, { environment: "test" })).key;
        const fp = await newProject(fw, key);
        expect((await fw.put(`/v1/projects/${fp.id}/integrations/database`, { read_url: env("PR_PG_TLS_READER_URL") }, { key })).status).toBe(200);
        const s = await fw.put(`/v1/projects/${fp.id}/integrations/stripe`, { api_key: `sk_test_${randomBytes(12).toString("hex")}`, webhook_secrets: [] }, { key });
        expect(s.status, s.text).toBe(200);
        expect((await fw.put(`/v1/projects/${fp.id}/mapping`, MAPPING, { key })).status).toBe(200);
        const r = await fw.post(`/v1/projects/${fp.id}/runs`, undefined, { key });
        expect(r.status, r.text).toBe(202);
        let run;
        for (const until = Date.now() + 60_000; ; ) {
          run = (await fw.get(`/v1/projects/${fp.id}/runs/${r.json.id}`, { key })).json;
          if (run.status !== "running" || Date.now() > until) break;
          await new Promise((res) => setTimeout(res, 200));
        }
        expect(run.status, JSON.stringify(run)).toBe("failed");
        expect(run.errors.join(" ")).toMatch(code);
        expect(run.stripe_requests).toBeLessThan(20);
        // The project is free again.
        expect((await fw.post(`/v1/projects/${fp.id}/runs`, undefined, { key })).status).toBe(202);
      } finally {
        await fw.dispose();
        server.close();
      }
    }, 90_000);
  }
});

describe("the cron", () => {
  it("starts a run for a project whose schedule is due and prunes snapshots older than 90 days", async () => {
    const db = await w.d1();
    // Make the project due: its runs started long ago.
    await db.prepare("UPDATE runs SET started_at = '2001-01-01T00:00:00.000Z' WHERE project_id = ?").bind(p.id).run();
    const old = await db.prepare("SELECT id FROM snapshots WHERE project_id = ? LIMIT 1").bind(p.id).first();
    expect(old).not.toBeNull();
    await db.prepare("UPDATE snapshots SET taken_at = '2001-01-01T00:00:00.000Z' WHERE id = ?").bind(old.id).run();
    const recent = (await db.prepare("SELECT count(*) AS n FROM snapshots WHERE project_id = ?").bind(p.id).first()).n;
    await w.scheduled();
    const runs = (await w.get(`/v1/projects/${p.id}/runs?limit=100`, { key: o.key })).json.data;
    const cron = runs.filter((r) => r.trigger === "cron");
    expect(cron).toHaveLength(1);
    expect((await finished(cron[0].id)).status).toBe("succeeded");
    expect(await db.prepare("SELECT id FROM snapshots WHERE id = ?").bind(old.id).first()).toBeNull();
    // Only the old one went (the cron may also have added snapshots since, through checks).
    expect((await db.prepare("SELECT count(*) AS n FROM snapshots WHERE project_id = ? AND taken_at < '2020-01-01'").bind(p.id).first()).n).toBe(0);
    expect((await db.prepare("SELECT count(*) AS n FROM snapshots WHERE project_id = ?").bind(p.id).first()).n).toBeGreaterThanOrEqual(recent - 1);
    // Not due again right after.
    await w.scheduled();
    const after = (await w.get(`/v1/projects/${p.id}/runs?limit=100`, { key: o.key })).json.data;
    expect(after.filter((r) => r.trigger === "cron")).toHaveLength(1);
    const audit = await auditEntries();
    expect(audit.find((e) => e.action === "run.started" && e.target === `run:${cron[0].id}`)).toMatchObject({ actor: "system:cron" });
  });
});
