// Repairs end to end (SPEC §8): suggestions from checks against localstripe and a real
// PostgreSQL table, approval through the project's coordinator, execution on the repair
// credential (a role that may update the mapped columns only), verification, rejection, the
// failure paths, who may approve, and the audit chain after all of it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { startWorker } from "./harness.mjs";
import { addMember, errorOf, newKey, newOrg } from "./fixtures.mjs";
import { FAST, appRow, env, mappingFor, scenarioCustomers, scratchTable, sql, wiredProject } from "./reconcile-fixtures.mjs";

let w, o, p, c, table, ghost;

const COLUMNS = "stripe_customer_id, plan, is_premium, on_trial, feature_sso";

/** Grants the repair role what the README advises: the mapped columns only. */
function grantRepairer(t) {
  sql(`GRANT SELECT, UPDATE (plan, is_premium, on_trial, feature_sso) ON ${t} TO pr_repairer`);
}

async function setDatabase(project, key, repair_url) {
  const body = { read_url: env("PR_PG_TLS_READER_URL"), ...(repair_url ? { repair_url } : {}) };
  const r = await w.put(`/v1/projects/${project}/integrations/database`, body, { key });
  expect(r.status, r.text).toBe(200);
}

beforeAll(async () => {
  w = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), DB_LOCK_TIMEOUT_MS: "500", ...FAST });
  c = scenarioCustomers();
  table = scratchTable("repairs");
  grantRepairer(table);
  ghost = `cus_ghost${randomBytes(6).toString("hex")}`;
  sql(`INSERT INTO ${table} (${COLUMNS}) VALUES ${[
    appRow(c.missing, "free", false, false),
    appRow(c.canceled_granted, "pro", true, true),
    appRow(c.downgrade, "pro", true, true),
    appRow(c.parity, "pro", true, true),
    appRow(ghost, "free", false, false),
  ].join(", ")}`);
  // Every write to the table is counted, so "written once" is a fact, not a guess.
  sql(`CREATE TABLE ${table}_writes (n serial, cus text);
       CREATE FUNCTION ${table}_count() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
       BEGIN INSERT INTO ${table}_writes (cus) VALUES (NEW.stripe_customer_id); RETURN NEW; END $$;
       CREATE TRIGGER count_writes AFTER UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_count()`);
  ({ o, p } = await wiredProject(w, { mapping: mappingFor(table) }));
  await setDatabase(p.id, o.key, env("PR_PG_TLS_REPAIRER_URL"));
}, 90_000);
afterAll(async () => w?.dispose());

const check = (cus) => w.post(`/v1/projects/${p.id}/customers/${cus}/check`, undefined, { key: o.key });
const repairsOf = async (cus, status) =>
  (await w.get(`/v1/projects/${p.id}/repairs?customer=${cus}${status ? `&status=${status}` : ""}`, { key: o.key })).json.data;
const incidentOf = async (id) => (await w.get(`/v1/projects/${p.id}/incidents/${id}`, { key: o.key })).json;
const approve = (rid, key = o.key) => w.post(`/v1/projects/${p.id}/repairs/${rid}/approve`, undefined, { key });
const approve2 = (pid, rid, key) => w.post(`/v1/projects/${pid}/repairs/${rid}/approve`, undefined, { key });
const rowOf = (cus) => sql(`SELECT plan, is_premium, feature_sso FROM ${table} WHERE stripe_customer_id = '${cus}'`).trim();
const writesOf = (cus) => Number(sql(`SELECT count(*) FROM ${table}_writes WHERE cus = '${cus}'`).trim());
/** Customers of localstripe's fill (tests/stripe/fill.py) with an active subscription. */
const paying = (n) =>
  JSON.parse(readFileSync(env("PR_STRIPE_FILL"), "utf8"))
    .customers.filter((c) => c.subscriptions.some((s) => s.status === "active"))
    .slice(0, n)
    .map((c) => c.id);

/** The whole project chain, in order. */
async function chainOf(pid, key) {
  const out = [];
  for (let after = 0; ; ) {
    const page = (await w.get(`/v1/projects/${pid}/audit?after_seq=${after}&limit=100`, { key })).json.data;
    out.push(...page);
    if (page.length < 100) return out;
    after = page[page.length - 1].seq;
  }
}

/** A Stripe-shaped proxy in front of localstripe that answers Stripe's 404 `resource_missing`
 * for the customers in `gone` (what a swapped or wrong-account key answers too). */
async function stripeProxy() {
  const gone = new Set();
  const upstream = env("PR_STRIPE_BASE");
  const server = createServer(async (req, res) => {
    const m = /^\/v1\/customers\/([^/?]+)/.exec(req.url);
    const named = new URL(req.url, "http://x").searchParams.get("customer");
    if ((m && gone.has(decodeURIComponent(m[1]))) || (named && gone.has(named))) {
      res.writeHead(404, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: { type: "invalid_request_error", code: "resource_missing", message: "No such customer" } }));
    }
    const r = await fetch(upstream + req.url, { method: req.method, headers: { authorization: req.headers.authorization ?? "" } });
    res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json" });
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${server.address().port}`, gone, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

const logs = (r) => (r.status >= 500 ? w.logs.join("").split("\n").filter((l) => l.includes(r.json?.error?.request_id)).join(" ") : "");

describe("suggestions", () => {
  it("a locked-out payer gets one grant for the row, naming both incidents and showing its statement with the values apart", async () => {
    const r = await check(c.missing);
    expect(r.status, r.text + logs(r)).toBe(200);
    const incidents = r.json.incidents.filter((i) => i.status === "open");
    expect(incidents.map((i) => i.kind).sort()).toEqual(["entitlement_mismatch", "missing_access"]);
    const repairs = await repairsOf(c.missing);
    expect(repairs).toHaveLength(1);
    const [grant] = repairs;
    for (const i of incidents) expect(i.repair_id).toBe(grant.id);
    expect(grant.incident_ids).toEqual(incidents.map((i) => i.id).sort());
    expect(grant.incident_id).toBe(incidents.find((i) => i.kind === "missing_access").id);
    expect(grant).toMatchObject({
      status: "pending",
      effect: "grant",
      customer: c.missing,
      table,
      key_column: "stripe_customer_id",
      changes: [
        { column: "plan", before: "free", after: "pro" },
        { column: "is_premium", before: false, after: true },
        { column: "feature_sso", before: false, after: true },
      ],
      approved_by: null,
      executed_at: null,
    });
    const [schema, name] = table.split(".");
    expect(grant.statement.sql).toBe(
      `UPDATE "${schema}"."${name}" SET "plan" = $1::text, "is_premium" = $2::boolean, "feature_sso" = $3::boolean WHERE ctid = $4::text::tid AND "stripe_customer_id" = $5 RETURNING left("plan", 256) AS "plan", "is_premium", "on_trial", "feature_sso"`,
    );
    expect(grant.statement.lock).toMatch(/FOR UPDATE$/);
    expect(grant.statement.params).toEqual(["pro", true, true, "<the locked row's ctid>", c.missing]);
    expect(grant.statement.sql).not.toContain(c.missing);
    // Found by either incident.
    for (const i of incidents) {
      const by = (await w.get(`/v1/projects/${p.id}/repairs?incident=${i.id}`, { key: o.key })).json.data;
      expect(by.map((x) => x.id)).toEqual([grant.id]);
    }
    // A second check suggests nothing more, and changes nothing.
    await check(c.missing);
    expect(await repairsOf(c.missing)).toEqual(repairs);
  });

  it("an unknown customer gets an incident and no repair", async () => {
    const r = await check(ghost);
    expect(r.json.incidents).toMatchObject([{ kind: "unknown_customer", repair_id: null }]);
    expect(await repairsOf(ghost)).toEqual([]);
  });
});

describe("approval", () => {
  it("needs an admin's repair key in the project; other tenants get the same 404 as a missing repair", async () => {
    const [rep] = await repairsOf(c.missing, "pending");
    const read = (await newKey(w, o.key, { capability: "read", environment: "test" })).key;
    expect(errorOf(await approve(rep.id, read))).toMatchObject({ status: 403 });
    const m = await addMember(w, o.liveKey, "member");
    const memberKey = (await newKey(w, o.key, { member_id: m.id, environment: "test" })).key;
    expect(errorOf(await approve(rep.id, memberKey))).toMatchObject({ status: 403 });
    expect(errorOf(await w.post(`/v1/projects/${p.id}/repairs/${rep.id}/reject`, { reason: "no" }, { key: memberKey }))).toMatchObject({ status: 403 });
    const other = await newOrg(w);
    const otherKey = (await newKey(w, other.key, { environment: "test" })).key;
    for (const path of [`/repairs/${rep.id}`, `/repairs`]) {
      expect(errorOf(await w.get(`/v1/projects/${p.id}${path}`, { key: otherKey }))).toMatchObject({ status: 404 });
    }
    expect(errorOf(await approve(rep.id, otherKey))).toMatchObject({ status: 404 });
    const missing = "rep_" + "0".repeat(22);
    expect(errorOf(await approve(missing))).toMatchObject({ status: 404, code: "not_found" });
    expect(errorOf(await approve("rep_x'; drop"))).toMatchObject({ status: 404 });
    expect((await repairsOf(c.missing, "pending")).length).toBe(1);
    expect(writesOf(c.missing)).toBe(0);
  });

  it("of 20 concurrent approvals exactly one executes: one 200, nineteen 409, one write, one repair.executed", async () => {
    const [rep] = await repairsOf(c.missing, "pending");
    const answers = await Promise.all(Array.from({ length: 20 }, () => approve(rep.id)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200), JSON.stringify(answers.map((a) => a.json))).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    for (const r of answers.filter((a) => a.status === 409)) expect(r.json.error.code).toBe("repair_not_pending");
    const done = answers.find((r) => r.status === 200).json;
    expect(done).toMatchObject({ id: rep.id, status: "verified", error: null });
    expect(done.approved_by).toMatch(/^member:mem_.+\/key:key_/);
    expect(done.row_before).toMatchObject({ plan: "free", is_premium: false });
    expect(done.row_after).toMatchObject({ plan: "pro", is_premium: true, feature_sso: true });
    expect(done.executed_at).toBeTruthy();
    expect(done.verified_at).toBeTruthy();
    expect(writesOf(c.missing)).toBe(1);
    expect(rowOf(c.missing)).toBe("pro|t|t");
    for (const id of rep.incident_ids) expect((await incidentOf(id)).status).toBe("resolved");
    const audit = (await w.get(`/v1/projects/${p.id}/audit?limit=100`, { key: o.key })).json.data.filter((e) => e.target === `repair:${rep.id}`);
    expect(audit.map((e) => e.action)).toEqual(["repair.created", "repair.approved", "repair.executed", "repair.verified"]);
    for (const e of audit) expect(e.after.incident_ids).toEqual(rep.incident_ids);
    expect(audit[1].actor).toBe(done.approved_by);
    expect(audit[2].actor).toBe("system:repair");
    expect(audit[2].after.row_after).toMatchObject({ plan: "pro" });
    // A later approval of the same repair: 409, nothing written.
    expect(errorOf(await approve(rep.id))).toMatchObject({ status: 409, code: "repair_not_pending" });
    expect(writesOf(c.missing)).toBe(1);
  });

  it("after that one approval the customer is in parity: nothing open, nothing pending", async () => {
    expect(rowOf(c.missing)).toBe("pro|t|t");
    const open = (await w.get(`/v1/projects/${p.id}/incidents?customer=${c.missing}&status=open`, { key: o.key })).json.data;
    expect(open).toEqual([]);
    expect(await repairsOf(c.missing, "pending")).toEqual([]);
    await check(c.missing);
    expect(await repairsOf(c.missing)).toHaveLength(1);
    expect(writesOf(c.missing)).toBe(1);
  });

  it("a canceled customer still granted is revoked the same way", async () => {
    await check(c.canceled_granted);
    const repairs = await repairsOf(c.canceled_granted, "pending");
    expect(repairs.map((r) => [r.effect, r.changes.map((x) => x.column)])).toEqual([["revocation", ["plan", "is_premium", "feature_sso"]]]);
    const r = await approve(repairs[0].id);
    expect(r.status, r.text + logs(r)).toBe(200);
    expect(r.json.status).toBe("verified");
    expect(rowOf(c.canceled_granted)).toBe("free|f|f");
    expect(writesOf(c.canceled_granted)).toBe(1);
  });
});

describe("one repair per customer row", () => {
  it("a customer drifting in plan and an entitlement gets one repair naming both; one approval writes the row once and verifies both resolved", async () => {
    const t = scratchTable("repairs_one");
    grantRepairer(t);
    sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${appRow(c.missing, "free", false, false)}`);
    sql(`CREATE TABLE ${t}_writes (n serial);
         CREATE FUNCTION ${t}_count() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
         BEGIN INSERT INTO ${t}_writes DEFAULT VALUES; RETURN NEW; END $$;
         CREATE TRIGGER count_writes AFTER UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_count()`);
    const { o: oo, p: po } = await wiredProject(w, { mapping: mappingFor(t) });
    await setDatabase(po.id, oo.key, env("PR_PG_TLS_REPAIRER_URL"));
    const checked = await w.post(`/v1/projects/${po.id}/customers/${c.missing}/check`, undefined, { key: oo.key });
    expect(checked.status, checked.text + logs(checked)).toBe(200);
    const incidents = checked.json.incidents.filter((i) => i.status === "open");
    expect(incidents.map((i) => i.kind).sort()).toEqual(["entitlement_mismatch", "missing_access"]);
    const pending = (await w.get(`/v1/projects/${po.id}/repairs?status=pending`, { key: oo.key })).json.data;
    expect(pending).toHaveLength(1);
    const [rep] = pending;
    expect(rep.incident_ids).toEqual(incidents.map((i) => i.id).sort());
    expect(rep.changes.map((x) => x.column)).toEqual(["plan", "is_premium", "feature_sso"]);
    for (const i of incidents) expect(i.repair_id).toBe(rep.id);
    const r = await w.post(`/v1/projects/${po.id}/repairs/${rep.id}/approve`, undefined, { key: oo.key });
    expect(r.status, r.text + logs(r)).toBe(200);
    expect(r.json).toMatchObject({ id: rep.id, status: "verified", error: null, incident_ids: rep.incident_ids });
    expect(sql(`SELECT plan, is_premium, feature_sso FROM ${t}`).trim()).toBe("pro|t|t");
    expect(Number(sql(`SELECT count(*) FROM ${t}_writes`).trim())).toBe(1);
    for (const id of rep.incident_ids) {
      expect((await w.get(`/v1/projects/${po.id}/incidents/${id}`, { key: oo.key })).json.status).toBe("resolved");
    }
    const chain = await chainOf(po.id, oo.key);
    expect(chain.filter((e) => e.action === "repair.executed")).toHaveLength(1);
    expect(chain.filter((e) => e.action === "repair.created")).toHaveLength(1);
    for (const a of ["repair.created", "repair.approved", "repair.executed", "repair.verified"]) {
      const e = chain.find((x) => x.action === a && x.target === `repair:${rep.id}`);
      expect(e?.after.incident_ids, a).toEqual(rep.incident_ids);
    }
    // The customer's ledger tells it, each repair entry naming both incidents.
    const ledger = (await w.get(`/v1/projects/${po.id}/customers/${c.missing}/ledger?limit=100`, { key: oo.key })).json.data;
    expect(ledger.filter((e) => e.action === "repair.verified").map((e) => e.after.incident_ids)).toEqual([rep.incident_ids]);
    expect((await w.get(`/v1/projects/${po.id}/audit/verify`, { key: oo.key })).json.ok).toBe(true);
  });

  it("the pending repair follows the customer: a drift that appears replaces it with one of every column", async () => {
    const t = scratchTable("repairs_follow");
    grantRepairer(t);
    sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${appRow(c.missing, "free", false, true)}`);
    const { o: of, p: pf } = await wiredProject(w, { mapping: mappingFor(t) });
    const checkIt = () => w.post(`/v1/projects/${pf.id}/customers/${c.missing}/check`, undefined, { key: of.key });
    const pendingOf = async () => (await w.get(`/v1/projects/${pf.id}/repairs?status=pending`, { key: of.key })).json.data;
    expect((await checkIt()).status).toBe(200);
    const [first] = await pendingOf();
    expect(first.changes.map((x) => x.column)).toEqual(["plan", "is_premium"]);
    // SSO switched off in the app: a second drift for the same row.
    sql(`UPDATE ${t} SET feature_sso = false`);
    expect((await checkIt()).status).toBe(200);
    const now = await pendingOf();
    expect(now).toHaveLength(1);
    expect(now[0].id).not.toBe(first.id);
    expect(now[0].changes.map((x) => [x.column, x.before])).toEqual([["plan", "free"], ["is_premium", false], ["feature_sso", false]]);
    expect(now[0].incident_ids).toHaveLength(2);
    const old = (await w.get(`/v1/projects/${pf.id}/repairs/${first.id}`, { key: of.key })).json;
    expect(old).toMatchObject({ status: "rejected", reason: "withdrawn: the drift changed; a new repair replaces this one" });

    // D1 holds it too: no second live repair for the row, incidents named on insert and never changed.
    const db = await w.d1();
    const stamp = new Date().toISOString();
    const insert = (id, ids, customer = c.missing) =>
      db
        .prepare(
          `INSERT INTO repairs (id, org_id, project_id, incident_id, incident_ids, customer, status, effect, table_name, key_column, changes, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 'pending', 'grant', ?, 'stripe_customer_id', '[]', ?, ?)`,
        )
        .bind(id, of.org.id, pf.id, now[0].incident_id, ids, customer, t, stamp, stamp)
        .run();
    const fresh = () => "rep_" + randomBytes(11).toString("hex").slice(0, 22);
    await expect(insert(fresh(), JSON.stringify([now[0].incident_id]))).rejects.toThrow(/repair_transition/);
    await expect(insert(fresh(), null, "cus_other")).rejects.toThrow(/repair_transition/);
    await expect(insert(fresh(), JSON.stringify(["inc_someone_else"]), "cus_other")).rejects.toThrow(/repair_transition/);
    await expect(
      db.prepare("UPDATE repairs SET incident_ids = ? WHERE org_id = ? AND id = ?").bind(JSON.stringify([now[0].incident_id]), of.org.id, now[0].id).run(),
    ).rejects.toThrow(/repair_transition/);
    expect(await pendingOf()).toEqual(now);
  });
});

describe("what does not execute", () => {
  it("a rejected repair is never executed", async () => {
    await check(c.downgrade);
    const [rep] = await repairsOf(c.downgrade, "pending");
    expect([rep.effect, rep.changes.map((x) => x.column)]).toEqual(["revocation", ["plan", "feature_sso"]]);
    expect(errorOf(await w.post(`/v1/projects/${p.id}/repairs/${rep.id}/reject`, {}, { key: o.key }))).toMatchObject({ status: 400 });
    const r = await w.post(`/v1/projects/${p.id}/repairs/${rep.id}/reject`, { reason: "customer is on a negotiated plan" }, { key: o.key });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ status: "rejected", reason: "customer is on a negotiated plan" });
    expect(errorOf(await approve(rep.id))).toMatchObject({ status: 409, code: "repair_not_pending" });
    expect(writesOf(c.downgrade)).toBe(0);
    // Rejected by a person: a check with nothing new suggests it again no more.
    await check(c.downgrade);
    expect(await repairsOf(c.downgrade, "pending")).toEqual([]);
  });

  it("a row that moved since the suggestion goes stale, nothing is written, and a fresh repair is suggested", async () => {
    // The row moves: the drift changed, so a fresh repair is suggested from the row as it is.
    sql(`UPDATE ${table} SET plan = 'team' WHERE stripe_customer_id = '${c.downgrade}'`);
    await check(c.downgrade);
    const [rep] = await repairsOf(c.downgrade, "pending");
    const col = rep.changes[0].column;
    expect(col).toBe("plan");
    expect(rep.changes[0].before).toBe("team");
    // Someone moves the row again, to a plan nobody suggested: the drift stays, the expected value is gone.
    sql(`UPDATE ${table} SET plan = 'pro' WHERE stripe_customer_id = '${c.downgrade}'`);
    const writes = writesOf(c.downgrade);
    const r = await approve(rep.id);
    expect(r.status, r.text + logs(r)).toBe(200);
    expect(r.json.status).toBe("stale");
    expect(r.json.error).toContain(col);
    expect(writesOf(c.downgrade)).toBe(writes);
    await check(c.downgrade);
    const fresh = await repairsOf(c.downgrade, "pending");
    expect(fresh.length).toBeGreaterThan(0);
    // Fixed by hand: the incidents resolve, and their pending repairs are withdrawn with the reason.
    sql(`UPDATE ${table} SET plan = 'basic', is_premium = true, feature_sso = false WHERE stripe_customer_id = '${c.downgrade}'`);
    await check(c.downgrade);
    expect(await repairsOf(c.downgrade, "pending")).toEqual([]);
    for (const f of fresh) {
      const now = (await w.get(`/v1/projects/${p.id}/repairs/${f.id}`, { key: o.key })).json;
      expect(now).toMatchObject({ status: "rejected", reason: "withdrawn: the incident resolved on its own", incident_ids: f.incident_ids });
    }
  });

  it("a revocation is checked against Stripe right before it runs: a customer who paid meanwhile keeps access", async () => {
    const t = scratchTable("repairs_paid");
    grantRepairer(t);
    sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${appRow(c.canceled_granted, "pro", true, true)}`);
    const { o: o10, p: p10 } = await wiredProject(w, { mapping: mappingFor(t) });
    await setDatabase(p10.id, o10.key, env("PR_PG_TLS_REPAIRER_URL"));
    await w.post(`/v1/projects/${p10.id}/customers/${c.canceled_granted}/check`, undefined, { key: o10.key });
    const rep = (await w.get(`/v1/projects/${p10.id}/repairs?status=pending`, { key: o10.key })).json.data.find((r) => r.changes[0].column === "plan");
    expect(rep.effect).toBe("revocation");
    // The customer subscribes again; no webhook or check has run since.
    const form = new URLSearchParams({ customer: c.canceled_granted, "items[0][plan]": "plan_pro" });
    const sub = await fetch(`${env("PR_STRIPE_BASE")}/v1/subscriptions`, { method: "POST", headers: { authorization: "Bearer sk_test_parityrail_repairs", "content-type": "application/x-www-form-urlencoded" }, body: form });
    const subscription = await sub.json();
    expect(sub.status, JSON.stringify(subscription)).toBe(200);
    const r = await w.post(`/v1/projects/${p10.id}/repairs/${rep.id}/approve`, undefined, { key: o10.key });
    // Canceled again, as the rest of this suite expects the customer.
    const del = await fetch(`${env("PR_STRIPE_BASE")}/v1/subscriptions/${subscription.id}`, { method: "DELETE", headers: { authorization: "Bearer sk_test_parityrail_repairs" } });
    expect(del.status).toBe(200);
    expect(r.status, r.text).toBe(200);
    expect(r.json.status).toBe("stale");
    expect(r.json.error).toMatch(/Stripe no longer asks for this change/);
    expect(sql(`SELECT plan, is_premium FROM ${t}`).trim()).toBe("pro|t");
  });

  it("a revocation of a customer Stripe no longer confirms ends stale: nothing written, the incident still open", async () => {
    const proxy = await stripeProxy();
    const pw = await startWorker({ STRIPE_API_BASE: proxy.base, ...FAST });
    try {
      const t = scratchTable("repairs_gone");
      grantRepairer(t);
      sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${appRow(c.canceled_granted, "pro", true, true)}`);
      const { o: og, p: pg } = await wiredProject(pw, { mapping: mappingFor(t) });
      const db = { read_url: env("PR_PG_TLS_READER_URL"), repair_url: env("PR_PG_TLS_REPAIRER_URL") };
      expect((await pw.put(`/v1/projects/${pg.id}/integrations/database`, db, { key: og.key })).status).toBe(200);
      expect((await pw.post(`/v1/projects/${pg.id}/customers/${c.canceled_granted}/check`, undefined, { key: og.key })).status).toBe(200);
      const rep = (await pw.get(`/v1/projects/${pg.id}/repairs?status=pending`, { key: og.key })).json.data.find((r) => r.changes[0].column === "plan");
      expect(rep.effect).toBe("revocation");
      // The customer disappears from Stripe (or the key now reads another account).
      proxy.gone.add(c.canceled_granted);
      const r = await pw.post(`/v1/projects/${pg.id}/repairs/${rep.id}/approve`, undefined, { key: og.key });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({ status: "stale", row_after: null });
      expect(r.json.error).toMatch(/^Stripe could not confirm the customer .*; nothing was written$/);
      expect(sql(`SELECT plan, is_premium, feature_sso FROM ${t}`).trim()).toBe("pro|t|t");
      const inc = (await pw.get(`/v1/projects/${pg.id}/incidents/${rep.incident_id}`, { key: og.key })).json;
      expect(inc.status).toBe("open");
      // A fresh check tells of the customer Stripe does not have, and suggests nothing to take.
      const again = await pw.post(`/v1/projects/${pg.id}/customers/${c.canceled_granted}/check`, undefined, { key: og.key });
      expect(again.json.incidents.filter((i) => i.status === "open").map((i) => [i.kind, i.repair_id])).toEqual([["unknown_customer", null]]);
      expect((await pw.get(`/v1/projects/${pg.id}/repairs?status=pending`, { key: og.key })).json.data).toEqual([]);
      expect(sql(`SELECT plan, is_premium, feature_sso FROM ${t}`).trim()).toBe("pro|t|t");
    } finally {
      await pw.dispose();
      await proxy.close();
    }
  });

  it("a repair role without the UPDATE grant fails with a clear error and nothing is written", async () => {
    const t = scratchTable("repairs_nogrant");
    sql(`GRANT SELECT ON ${t} TO pr_repairer; INSERT INTO ${t} (${COLUMNS}) VALUES ${appRow(c.missing, "free", false, false)}`);
    const { o: o2, p: p2 } = await wiredProject(w, { mapping: mappingFor(t) });
    await setDatabase(p2.id, o2.key, env("PR_PG_TLS_REPAIRER_URL"));
    await w.post(`/v1/projects/${p2.id}/customers/${c.missing}/check`, undefined, { key: o2.key });
    const [rep] = (await w.get(`/v1/projects/${p2.id}/repairs?status=pending`, { key: o2.key })).json.data;
    const r = await w.post(`/v1/projects/${p2.id}/repairs/${rep.id}/approve`, undefined, { key: o2.key });
    expect(r.status, r.text).toBe(200);
    expect(r.json.status).toBe("failed");
    expect(r.json.error).toMatch(/^database_not_permitted: .*grant it UPDATE/);
    expect(sql(`SELECT plan FROM ${t}`).trim()).toBe("free");
  });

  it("without a repair credential the approval is refused and the repair stays pending", async () => {
    const { o: o3, p: p3 } = await wiredProject(w, { mapping: mappingFor(table) });
    await w.post(`/v1/projects/${p3.id}/customers/${ghost}/check`, undefined, { key: o3.key });
    sql(`UPDATE ${table} SET plan = 'free', is_premium = false, feature_sso = false WHERE stripe_customer_id = '${c.parity}'`);
    const writes = writesOf(c.parity);
    await w.post(`/v1/projects/${p3.id}/customers/${c.parity}/check`, undefined, { key: o3.key });
    const [rep] = (await w.get(`/v1/projects/${p3.id}/repairs?status=pending`, { key: o3.key })).json.data;
    const r = await w.post(`/v1/projects/${p3.id}/repairs/${rep.id}/approve`, undefined, { key: o3.key });
    expect(errorOf(r)).toMatchObject({ status: 409, code: "integration_missing" });
    const again = await w.get(`/v1/projects/${p3.id}/repairs/${rep.id}`, { key: o3.key });
    expect(again.json.status).toBe("pending");
    expect(writesOf(c.parity)).toBe(writes);
  });

  it("a stored repair naming a column outside the allowlist is refused before any SQL is sent", async () => {
    const inc = (await w.get(`/v1/projects/${p.id}/incidents?customer=${ghost}`, { key: o.key })).json.data[0];
    const writes = writesOf(c.parity);
    const db = await w.d1();
    const id = "rep_" + randomBytes(11).toString("hex").slice(0, 22);
    const now = new Date().toISOString();
    await db
      .prepare(
        `INSERT INTO repairs (id, org_id, project_id, incident_id, incident_ids, customer, status, effect, table_name, key_column, changes, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', 'grant', ?, 'stripe_customer_id', ?, ?, ?)`,
      )
      .bind(id, o.org.id, p.id, inc.id, JSON.stringify([inc.id]), c.parity, table, JSON.stringify([{ column: "stripe_customer_id", before: c.parity, after: ghost }]), now, now)
      .run();
    const got = await w.get(`/v1/projects/${p.id}/repairs/${id}`, { key: o.key });
    expect(got.json.statement.refused).toMatch(/not one a repair may write/);
    const r = await approve(id);
    expect(errorOf(r)).toMatchObject({ status: 409, code: "repair_not_executable" });
    expect((await w.get(`/v1/projects/${p.id}/repairs/${id}`, { key: o.key })).json.status).toBe("pending");
    expect(writesOf(c.parity)).toBe(writes);
  });
});

describe("verification and recovery", () => {
  it("a write the app undoes is unverified, and the incident stays open", async () => {
    const t = scratchTable("repairs_undo");
    grantRepairer(t);
    sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${appRow(c.missing, "free", false, false)};
         CREATE FUNCTION ${t}_undo() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.is_premium := false; RETURN NEW; END $$;
         CREATE TRIGGER undo BEFORE UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_undo()`);
    const { o: o8, p: p8 } = await wiredProject(w, { mapping: mappingFor(t) });
    await setDatabase(p8.id, o8.key, env("PR_PG_TLS_REPAIRER_URL"));
    await w.post(`/v1/projects/${p8.id}/customers/${c.missing}/check`, undefined, { key: o8.key });
    const [rep] = (await w.get(`/v1/projects/${p8.id}/repairs?status=pending`, { key: o8.key })).json.data;
    const r = await w.post(`/v1/projects/${p8.id}/repairs/${rep.id}/approve`, undefined, { key: o8.key });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ status: "unverified", row_after: { plan: "pro", is_premium: false } });
    expect(r.json.error).toMatch(/still shows the drift/);
    const inc = (await w.get(`/v1/projects/${p8.id}/incidents/${rep.incident_id}`, { key: o8.key })).json;
    expect(inc.status).toBe("open");
  });

  it("an approval cut short after the claim is finished by the coordinator: failed, re-checked, suggested again", async () => {
    const fw = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), REPAIR_FAULT_STOP_AFTER_CLAIM: "1", REPAIR_RECOVER_AFTER_MS: "1000", ...FAST });
    try {
      const t = scratchTable("repairs_cut");
      grantRepairer(t);
      sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${appRow(c.missing, "free", false, false)}`);
      const { o: o9, p: p9 } = await wiredProject(fw, { mapping: mappingFor(t) });
      const db = { read_url: env("PR_PG_TLS_READER_URL"), repair_url: env("PR_PG_TLS_REPAIRER_URL") };
      expect((await fw.put(`/v1/projects/${p9.id}/integrations/database`, db, { key: o9.key })).status).toBe(200);
      await fw.post(`/v1/projects/${p9.id}/customers/${c.missing}/check`, undefined, { key: o9.key });
      const rep = (await fw.get(`/v1/projects/${p9.id}/repairs?status=pending`, { key: o9.key })).json.data[0];
      const r = await fw.post(`/v1/projects/${p9.id}/repairs/${rep.id}/approve`, undefined, { key: o9.key });
      expect(errorOf(r)).toMatchObject({ status: 500, code: "internal_error" });
      expect((await fw.get(`/v1/projects/${p9.id}/repairs/${rep.id}`, { key: o9.key })).json.status).toBe("executing");
      let got;
      for (let i = 0; i < 100; i++) {
        got = (await fw.get(`/v1/projects/${p9.id}/repairs/${rep.id}`, { key: o9.key })).json;
        if (got.status !== "executing") break;
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(got).toMatchObject({ status: "failed" });
      expect(got.error).toMatch(/stopped before recording this repair's outcome/);
      expect(sql(`SELECT plan FROM ${t}`).trim()).toBe("free");
      // The incident is still open and gets a fresh repair (the re-check follows the recorded
      // failure within the same recovery, so it can land a moment later); the chain verifies.
      let again = [];
      for (let i = 0; i < 100 && again.length === 0; i++) {
        again = (await fw.get(`/v1/projects/${p9.id}/repairs?incident=${rep.incident_id}&status=pending`, { key: o9.key })).json.data;
        if (again.length === 0) await new Promise((res) => setTimeout(res, 100));
      }
      expect(again).toHaveLength(1);
      expect((await fw.get(`/v1/projects/${p9.id}/audit/verify`, { key: o9.key })).json.ok).toBe(true);
    } finally {
      await fw.dispose();
    }
  });
});

describe("the repair role check", () => {
  /** A role of its own (made as the server's superuser), with `grants` on the suite's table. */
  function role(grants) {
    const name = `rr_${randomBytes(4).toString("hex")}`;
    const pw = randomBytes(12).toString("hex");
    const [cmd, ...args] = env("PR_PG_ADMIN").split(" ");
    execFileSync(cmd, [...args, "-v", "ON_ERROR_STOP=1", "-qAt", "-c",
      `CREATE ROLE ${name} LOGIN PASSWORD '${pw}'; GRANT USAGE ON SCHEMA scratch TO ${name}; ${grants.replaceAll("ROLE", name)}`]);
    return `postgres://${name}:${pw}@127.0.0.1:${env("PR_PG_PORT")}/app?sslmode=require`;
  }

  const testWith = async (repair_url) => {
    const { o: o6, p: p6 } = await wiredProject(w, { mapping: mappingFor(table) });
    await setDatabase(p6.id, o6.key, repair_url);
    const r = await w.post(`/v1/projects/${p6.id}/integrations/database/test`, undefined, { key: o6.key });
    expect(r.status, r.text).toBe(200);
    return r.json;
  };

  it("reports the mapped columns the repair role may update, and warns of anything wider", async () => {
    const exact = await testWith(role(`GRANT SELECT, UPDATE (plan, is_premium, on_trial, feature_sso) ON ${table} TO ROLE`));
    expect(exact).toMatchObject({ ok: true, read_only_enforced: true });
    expect(exact.repair).toEqual({
      ok: true,
      can_update: ["plan", "is_premium", "on_trial", "feature_sso"],
      cannot_update: [],
      beyond_allowlist: false,
      beyond: [],
      warning: null,
    });
    const wide = await testWith(role(`GRANT SELECT, INSERT, UPDATE ON ${table} TO ROLE`));
    expect(wide.repair).toMatchObject({ ok: true, beyond_allowlist: true, cannot_update: [] });
    expect(wide.repair.beyond).toContain("column stripe_customer_id");
    expect(wide.repair.warning).toMatch(/grant only UPDATE on the mapped columns/);
    const trigger = await testWith(role(`GRANT SELECT, UPDATE (plan, is_premium, on_trial, feature_sso), TRIGGER ON ${table} TO ROLE`));
    expect(trigger.repair).toMatchObject({ beyond_allowlist: true, beyond: ["create triggers on the table (TRIGGER)"] });
    const bypass = role(`GRANT SELECT, UPDATE (plan, is_premium, on_trial, feature_sso) ON ${table} TO ROLE`);
    const [cmd, ...args] = env("PR_PG_ADMIN").split(" ");
    execFileSync(cmd, [...args, "-qAt", "-c", `ALTER ROLE ${bypass.split("//")[1].split(":")[0]} BYPASSRLS`]);
    expect((await testWith(bypass)).repair.beyond).toEqual(["rows hidden by row-level security (BYPASSRLS)"]);
    const narrow = await testWith(role(`GRANT SELECT, UPDATE (plan) ON ${table} TO ROLE`));
    expect(narrow.repair).toMatchObject({ can_update: ["plan"], cannot_update: ["is_premium", "on_trial", "feature_sso"], beyond_allowlist: false });
    expect(narrow.repair.warning).toMatch(/repairs of is_premium, on_trial, feature_sso will fail/);
    const refused = await testWith(env("PR_PG_TLS_REPAIRER_URL").replace(/:[0-9a-f]+@/, ":wrong@"));
    expect(refused.repair).toMatchObject({ ok: false, error: { code: "database_auth_failed" } });
    // No repair credential: nothing to report.
    const { o: o7, p: p7 } = await wiredProject(w, { mapping: mappingFor(table) });
    const none = await w.post(`/v1/projects/${p7.id}/integrations/database/test`, undefined, { key: o7.key });
    expect(none.json.repair).toBeNull();
  });
});

describe("automatic approval of grants", () => {
  it("approves grants at once and leaves revocations and downgrades to a person", async () => {
    const t = scratchTable("repairs_auto");
    grantRepairer(t);
    sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${[
      appRow(c.missing, "free", false, false),
      appRow(c.canceled_granted, "pro", true, true),
      appRow(c.downgrade, "pro", true, false),
    ].join(", ")}`);
    const { o: o5, p: p5 } = await wiredProject(w, { mapping: mappingFor(t) });
    await setDatabase(p5.id, o5.key, env("PR_PG_TLS_REPAIRER_URL"));
    const patch = await w.patch(`/v1/projects/${p5.id}`, { auto_approve_grants: true }, { key: o5.key });
    expect(patch.status, patch.text).toBe(200);
    for (const cus of [c.missing, c.canceled_granted, c.downgrade]) {
      const r = await w.post(`/v1/projects/${p5.id}/customers/${cus}/check`, undefined, { key: o5.key });
      expect(r.status, r.text).toBe(200);
    }
    const all = async () => (await w.get(`/v1/projects/${p5.id}/repairs?limit=100`, { key: o5.key })).json.data;
    let repairs = await all();
    for (let i = 0; i < 100 && repairs.some((r) => r.effect === "grant" && r.status !== "verified"); i++) {
      await new Promise((res) => setTimeout(res, 100));
      repairs = await all();
    }
    const grants = repairs.filter((r) => r.effect === "grant");
    expect(grants.length).toBeGreaterThan(0);
    for (const g of grants) expect(g, JSON.stringify(g)).toMatchObject({ status: "verified", approved_by: "system:auto_approve", customer: c.missing });
    expect(sql(`SELECT plan, is_premium, feature_sso FROM ${t} WHERE stripe_customer_id = '${c.missing}'`).trim()).toBe("pro|t|t");
    const others = repairs.filter((r) => r.effect !== "grant");
    expect(others.map((r) => r.customer).sort()).toEqual([c.canceled_granted, c.downgrade].sort());
    for (const r of others) expect(r.status).toBe("pending");
    // The project never approves automatically unless asked: this suite's main project did not.
    const mainPending = (await w.get(`/v1/projects/${p.id}/repairs?status=pending&limit=100`, { key: o.key })).json.data;
    expect(mainPending.length).toBeGreaterThan(0);
  });
});

describe("automatic approval of a customer's one repair", () => {
  it("a repair that grants the plan and takes an entitlement is a change, never approved automatically", async () => {
    const t = scratchTable("repairs_mixed");
    grantRepairer(t);
    // Paying for basic (no SSO), the row says free with SSO: the plan is given, SSO taken.
    sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${appRow(c.downgrade, "free", false, true)}`);
    const { o: om, p: pm } = await wiredProject(w, { mapping: mappingFor(t) });
    await setDatabase(pm.id, om.key, env("PR_PG_TLS_REPAIRER_URL"));
    expect((await w.patch(`/v1/projects/${pm.id}`, { auto_approve_grants: true }, { key: om.key })).status).toBe(200);
    expect((await w.post(`/v1/projects/${pm.id}/customers/${c.downgrade}/check`, undefined, { key: om.key })).status).toBe(200);
    const [rep, ...more] = (await w.get(`/v1/projects/${pm.id}/repairs`, { key: om.key })).json.data;
    expect(more).toEqual([]);
    expect(rep).toMatchObject({ effect: "change", status: "pending" });
    expect(rep.changes.map((x) => [x.column, x.after])).toEqual([["plan", "basic"], ["is_premium", true], ["feature_sso", false]]);
    expect(rep.incident_ids).toHaveLength(2);
    // The coordinator had its round (the check woke it): nothing was approved.
    await new Promise((res) => setTimeout(res, 1500));
    expect((await w.get(`/v1/projects/${pm.id}/repairs/${rep.id}`, { key: om.key })).json.status).toBe("pending");
    expect((await chainOf(pm.id, om.key)).filter((e) => e.action === "repair.approved")).toEqual([]);
    expect(sql(`SELECT plan, is_premium, feature_sso FROM ${t}`).trim()).toBe("free|f|t");
  });
});

describe("approvers that change while approving", () => {
  it("approvals racing an ownership transfer that caps the approving key never leave a repair.approved by it after its key.capped", async () => {
    const t = scratchTable("repairs_capped");
    grantRepairer(t);
    const customers = paying(6);
    sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${customers.map((cus) => appRow(cus, "free", false, false)).join(", ")}`);
    const { o: oc, p: pc } = await wiredProject(w, { mapping: mappingFor(t) });
    await setDatabase(pc.id, oc.key, env("PR_PG_TLS_REPAIRER_URL"));
    for (const cus of customers) expect((await w.post(`/v1/projects/${pc.id}/customers/${cus}/check`, undefined, { key: oc.key })).status).toBe(200);
    const pending = (await w.get(`/v1/projects/${pc.id}/repairs?status=pending&limit=100`, { key: oc.key })).json.data;
    expect(pending.length).toBeGreaterThanOrEqual(6);
    // The owner mints a key for an admin (capped at admin); a transfer of ownership to another
    // member makes the owner an admin, which caps that key at member.
    const admin = await addMember(w, oc.liveKey, "admin");
    const heir = await addMember(w, oc.liveKey, "admin");
    const k = await newKey(w, oc.key, { member_id: admin.id, environment: "test" });
    const answers = pending.map((rep) => approve2(pc.id, rep.id, k.key));
    await new Promise((res) => setTimeout(res, 15));
    const transfer = await w.patch(`/v1/org/members/${heir.id}`, { role: "owner" }, { key: oc.liveKey });
    expect(transfer.status, transfer.text).toBe(200);
    const done = await Promise.all(answers);
    for (const r of done) expect([200, 403, 409], r.text).toContain(r.status);
    // D1 keeps the order in which entries were appended, across chains.
    const db = await w.d1();
    const rows = (await db.prepare("SELECT rowid AS n, action, actor, target FROM audit_log WHERE org_id = ? ORDER BY rowid").bind(oc.org.id).all()).results;
    const capped = rows.find((e) => e.action === "key.capped" && e.target === `key:${k.id}`);
    expect(capped, "the transfer caps the key").toBeTruthy();
    const late = rows.filter((e) => e.action === "repair.approved" && e.actor.endsWith(`/key:${k.id}`) && e.n > capped.n);
    expect(late).toEqual([]);
    // Once capped, the key approves nothing.
    const left = (await w.get(`/v1/projects/${pc.id}/repairs?status=pending&limit=100`, { key: oc.key })).json.data;
    if (left.length) expect(errorOf(await approve2(pc.id, left[0].id, k.key))).toMatchObject({ status: 403 });
  });

  it("a caller check holding a key's old cap aborts the batch it fronts", async () => {
    // What the trigger does, without a race: the guard row carries the cap authentication read.
    const { o: og } = await wiredProject(w);
    const admin = await addMember(w, og.liveKey, "admin");
    const k = await newKey(w, og.key, { member_id: admin.id, environment: "test" });
    const db = await w.d1();
    const guard = (cap) =>
      db.prepare("INSERT INTO caller_checks (org_id, key_id, member_id, role, project_id, override_role, at, minted_role) VALUES (?, ?, ?, 'admin', NULL, NULL, ?, ?)")
        .bind(og.org.id, k.id, admin.id, new Date().toISOString(), cap);
    await guard("admin").run();
    await expect(guard("owner").run()).rejects.toThrow(/caller_changed/);
    await expect(guard(null).run()).rejects.toThrow(/caller_changed/);
    // Nothing is stored.
    expect((await db.prepare("SELECT count(*) AS n FROM caller_checks").first()).n).toBe(0);
  });

  it("an automatic approval's guard aborts the batch it fronts unless the project approves grants automatically", async () => {
    const { o: og, p: pg } = await wiredProject(w);
    const db = await w.d1();
    const guard = (project) => db.prepare("INSERT INTO auto_approval_checks (org_id, project_id) VALUES (?, ?)").bind(og.org.id, project);
    await expect(guard(pg.id).run()).rejects.toThrow(/auto_approve_off/);
    expect((await w.patch(`/v1/projects/${pg.id}`, { auto_approve_grants: true }, { key: og.key })).status).toBe(200);
    await guard(pg.id).run();
    // Another org's project of the same id, or a project that is gone, never passes.
    await expect(db.prepare("INSERT INTO auto_approval_checks (org_id, project_id) VALUES (?, ?)").bind(o.org.id, pg.id).run()).rejects.toThrow(/auto_approve_off/);
    await expect(guard("prj_" + "0".repeat(22)).run()).rejects.toThrow(/auto_approve_off/);
    expect((await db.prepare("SELECT count(*) AS n FROM auto_approval_checks").first()).n).toBe(0);
  });

  it("turning automatic approval off mid-round stops every later automatic approval", async () => {
    const t = scratchTable("repairs_auto_off");
    grantRepairer(t);
    const customers = paying(12);
    sql(`INSERT INTO ${t} (${COLUMNS}) VALUES ${customers.map((cus) => appRow(cus, "free", false, false)).join(", ")}`);
    const { o: oa, p: pa } = await wiredProject(w, { mapping: mappingFor(t) });
    await setDatabase(pa.id, oa.key, env("PR_PG_TLS_REPAIRER_URL"));
    expect((await w.patch(`/v1/projects/${pa.id}`, { auto_approve_grants: true }, { key: oa.key })).status).toBe(200);
    // Each check suggests grants and wakes the round.
    for (const cus of customers) expect((await w.post(`/v1/projects/${pa.id}/customers/${cus}/check`, undefined, { key: oa.key })).status).toBe(200);
    const autoApproved = async () => (await chainOf(pa.id, oa.key)).filter((e) => e.action === "repair.approved" && e.actor === "system:auto_approve");
    for (let i = 0; i < 200 && (await autoApproved()).length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    const off = await w.patch(`/v1/projects/${pa.id}`, { auto_approve_grants: false }, { key: oa.key });
    expect(off.status, off.text).toBe(200);
    // Let whatever was under way finish.
    const busy = async () => (await w.get(`/v1/projects/${pa.id}/repairs?limit=100`, { key: oa.key })).json.data.some((r) => ["executing", "executed"].includes(r.status));
    for (let i = 0; i < 100 && (await busy()); i++) await new Promise((res) => setTimeout(res, 100));
    await new Promise((res) => setTimeout(res, 1500));
    const chain = await chainOf(pa.id, oa.key);
    const offAt = chain.find((e) => e.action === "project.updated" && e.after.auto_approve_grants === false).seq;
    const approvals = chain.filter((e) => e.action === "repair.approved" && e.actor === "system:auto_approve");
    expect(approvals.length, w.logs.join("").split("\n").filter((l) => l.includes("auto_approve")).slice(0, 5).join("\n")).toBeGreaterThan(0);
    expect(approvals.filter((e) => e.seq > offAt).map((e) => e.target)).toEqual([]);
    const pending = (await w.get(`/v1/projects/${pa.id}/repairs?status=pending&limit=100`, { key: oa.key })).json.data;
    expect(pending.length, "grants are left to a person").toBeGreaterThan(0);
  });
});

describe("the access ledger", () => {
  it("tells the locked-out customer's whole story from the audit log, each entry checkable against the chain", async () => {
    const r = await w.get(`/v1/projects/${p.id}/customers/${c.missing}/ledger?limit=100`, { key: o.key });
    expect(r.status, r.text).toBe(200);
    expect(r.json.customer).toBe(c.missing);
    const entries = r.json.data;
    const seqs = entries.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const actions = entries.map((e) => e.action);
    for (const a of ["incident.opened", "repair.created", "repair.approved", "repair.executed", "repair.verified", "incident.resolved"]) {
      expect(actions, a).toContain(a);
    }
    expect(actions.indexOf("repair.approved")).toBeLessThan(actions.indexOf("repair.executed"));
    expect(actions.lastIndexOf("incident.resolved")).toBeGreaterThan(actions.indexOf("repair.executed"));
    const executed = entries.find((e) => e.action === "repair.executed");
    expect(executed.after.row_before).toMatchObject({ plan: "free" });
    expect(executed.after.row_after).toMatchObject({ plan: "pro" });
    // Every entry is the chain's own: same seq, same hash.
    const chain = new Map((await w.get(`/v1/projects/${p.id}/audit?limit=100`, { key: o.key })).json.data.map((e) => [e.seq, e]));
    for (const e of entries) expect(chain.get(e.seq)).toEqual(e);
    // Nothing about other customers.
    expect(entries.every((e) => e.after.customer === c.missing)).toBe(true);
    // Paged by seq.
    const first = await w.get(`/v1/projects/${p.id}/customers/${c.missing}/ledger?limit=2`, { key: o.key });
    expect(first.json.data.map((e) => e.seq)).toEqual(seqs.slice(0, 2));
    const second = await w.get(`/v1/projects/${p.id}/customers/${c.missing}/ledger?limit=2&cursor=${first.json.next_cursor}`, { key: o.key });
    expect(second.json.data.map((e) => e.seq)).toEqual(seqs.slice(2, 4));
  });

  it("is the same 404 for an unknown customer and for another tenant's", async () => {
    const unknown = errorOf(await w.get(`/v1/projects/${p.id}/customers/cus_nobody${randomBytes(4).toString("hex")}/ledger`, { key: o.key }));
    expect(unknown).toMatchObject({ status: 404, code: "not_found" });
    const { o: o4, p: p4 } = await wiredProject(w, { mapping: mappingFor(table) });
    const theirs = errorOf(await w.get(`/v1/projects/${p4.id}/customers/${c.missing}/ledger`, { key: o4.key }));
    expect(theirs).toEqual(unknown);
    expect(errorOf(await w.get(`/v1/projects/${p.id}/customers/${c.missing}/ledger`, { key: o4.key }))).toMatchObject({ status: 404 });
    expect(errorOf(await w.get(`/v1/projects/${p.id}/customers/bad'id/ledger`, { key: o.key }))).toEqual(unknown);
  });
});

describe("the record", () => {
  it("records every step, and the chain verifies", async () => {
    const v = await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key });
    expect(v.json).toMatchObject({ ok: true });
    const actions = new Set((await w.get(`/v1/projects/${p.id}/audit?limit=100`, { key: o.key })).json.data.map((e) => e.action));
    for (const a of ["repair.created", "repair.approved", "repair.executed", "repair.verified", "repair.rejected", "repair.stale"]) {
      expect(actions.has(a), a).toBe(true);
    }
  });
});
