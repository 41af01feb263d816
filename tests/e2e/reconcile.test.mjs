// Reconcile against real components: a localstripe account with a customer for each kind of
// drift (tests/stripe/scenario.py), the app table in a real PostgreSQL, and the built worker.
// Mapping validation and the live table check, single-customer checks, incident dedup, resolve,
// ignore, and the audit chain after all of it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { startWorker } from "./harness.mjs";
import { addMember, errorOf, newKey, newOrg, newProject } from "./fixtures.mjs";
import { FAST, VENV, env, mappingFor, sql } from "./reconcile-fixtures.mjs";

const MAPPING = mappingFor("accounts");

let w, o, p, c, ghost;
beforeAll(async () => {
  w = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), ...FAST });
  // A test project: localstripe accepts sk_test_ keys only.
  o = await newOrg(w);
  o.liveKey = o.key;
  o.key = (await newKey(w, o.liveKey, { environment: "test" })).key;
  p = await newProject(w, o.key);
  expect((await w.put(`/v1/projects/${p.id}/integrations/database`, { read_url: env("PR_PG_TLS_READER_URL") }, { key: o.key })).status).toBe(200);
  const stripeKey = `sk_test_${randomBytes(12).toString("hex")}`;
  const r = await w.put(`/v1/projects/${p.id}/integrations/stripe`, { api_key: stripeKey, webhook_secrets: [] }, { key: o.key });
  expect(r.status, r.text).toBe(200);
  c = JSON.parse(execFileSync(`${VENV}/bin/python`, ["tests/stripe/scenario.py", env("PR_STRIPE_BASE")], { encoding: "utf8" }));
  ghost = `cus_ghost${randomBytes(6).toString("hex")}`;
  const row = (cus, plan, premium, sso) => `('${cus}', '${plan}', ${premium}, false, ${sso})`;
  sql(`INSERT INTO accounts (stripe_customer_id, plan, is_premium, on_trial, feature_sso) VALUES ${[
    row(c.parity, "pro", true, true),
    row(c.missing, "free", false, false),
    row(c.canceled_granted, "pro", true, true),
    row(c.grace, "pro", true, true),
    row(c.downgrade, "pro", true, true),
    row(c.no_subscription, "free", false, false),
    row(ghost, "free", false, false),
  ].join(", ")}`);
}, 60_000);
afterAll(async () => w?.dispose());

const check = (cus, key = o.key) => w.post(`/v1/projects/${p.id}/customers/${cus}/check`, undefined, { key });
const kinds = (r) => r.json.incidents.filter((i) => i.status === "open").map((i) => i.kind).sort();

describe("the mapping", () => {
  it("is 404 before it is set, and a check without it is 409 mapping_missing", async () => {
    expect(errorOf(await w.get(`/v1/projects/${p.id}/mapping`, { key: o.key }))).toMatchObject({ status: 404 });
    expect(errorOf(await check(c.parity))).toMatchObject({ status: 409, code: "mapping_missing" });
  });

  it("is validated with a 400 naming the field", async () => {
    const cases = [
      [{ ...MAPPING, table: "accounts; drop table accounts" }, "table"],
      [{ ...MAPPING, plan_column: "plan\"" }, "plan_column"],
      [{ ...MAPPING, plans: { plan_pro: { plan: "pro", rank: 0 } } }, "plans.plan_pro.rank"],
      [{ ...MAPPING, plans: {} }, "plans"],
      [{ ...MAPPING, grace: { canceled: "access" } }, "grace.canceled"],
      [{ ...MAPPING, grace: { active: "revoke" } }, "grace"],
      [{ ...MAPPING, trial_column: "plan" }, "trial_column"],
      [{ ...MAPPING, extra: 1 }, "body"],
    ];
    for (const [body, field] of cases) {
      const r = await w.put(`/v1/projects/${p.id}/mapping`, body, { key: o.key });
      expect(errorOf(r), JSON.stringify(body)).toMatchObject({ status: 400, code: "invalid_field" });
      expect(r.json.error.field).toBe(field);
    }
  });

  it("is checked against the live table, naming what does not fit", async () => {
    const missing = await w.put(`/v1/projects/${p.id}/mapping`, { ...MAPPING, table: "no_such_table" }, { key: o.key });
    expect(errorOf(missing)).toMatchObject({ status: 400, code: "mapping_mismatch" });
    expect(missing.json.error.field).toBe("table");
    const wrongType = await w.put(`/v1/projects/${p.id}/mapping`, { ...MAPPING, premium_column: "seats" }, { key: o.key });
    expect(errorOf(wrongType)).toMatchObject({ status: 400, code: "mapping_mismatch" });
    expect(wrongType.json.error).toMatchObject({ field: "premium_column", message: "column seats is integer; it must be boolean" });
    const noColumn = await w.put(`/v1/projects/${p.id}/mapping`, { ...MAPPING, entitlements: { sso: "feature_nope" } }, { key: o.key });
    expect(noColumn.json.error).toMatchObject({ field: "entitlements.sso", message: "column feature_nope does not exist in table accounts" });
  });

  it("is stored, audited, and yields the repair allowlist", async () => {
    const r = await w.put(`/v1/projects/${p.id}/mapping`, MAPPING, { key: o.key });
    expect(r.status, r.text).toBe(200);
    expect(r.json.repair_columns).toEqual(["plan", "is_premium", "on_trial", "feature_sso"]);
    expect(r.json.mapping.grace).toMatchObject({ past_due: "keep", incomplete: "keep", unpaid: "revoke", trialing: "trial", canceled: "revoke" });
    const got = await w.get(`/v1/projects/${p.id}/mapping`, { key: o.key });
    expect(got.json.mapping).toEqual(r.json.mapping);
    const audit = (await w.get(`/v1/projects/${p.id}/audit?limit=100`, { key: o.key })).json.data;
    expect(audit.filter((e) => e.action === "mapping.updated")).toHaveLength(1);
  });

  it("needs an admin's repair key to change, and stays within its tenant", async () => {
    const read = (await newKey(w, o.key, { capability: "read", environment: "test" })).key;
    expect(errorOf(await w.put(`/v1/projects/${p.id}/mapping`, MAPPING, { key: read }))).toMatchObject({ status: 403 });
    const other = await newOrg(w);
    expect(errorOf(await w.get(`/v1/projects/${p.id}/mapping`, { key: other.key }))).toMatchObject({ status: 404 });
  });
});

describe("checking one customer", () => {
  it("finds exactly the expected drift for each kind of customer", async () => {
    expect(c.grace_status).toBe("incomplete");
    const expected = {
      parity: [],
      missing: ["entitlement_mismatch", "missing_access"],
      canceled_granted: ["entitlement_mismatch", "unpaid_access"],
      grace: [], // incomplete keeps current access: never a revocation
      downgrade: ["entitlement_mismatch", "plan_mismatch"],
      stripe_only: ["unknown_customer"],
      no_subscription: [],
    };
    for (const [name, want] of Object.entries(expected)) {
      const r = await check(c[name]);
      expect(r.status, `${name}: ${r.text} ${r.status === 500 ? w.logs.join("").split("\n").filter((l) => l.includes(r.json.error.request_id)).join(" ") : ""}`).toBe(200);
      expect(kinds(r), name).toEqual(want);
    }
    const g = await check(ghost);
    expect(kinds(g)).toEqual(["unknown_customer"]);
    expect(g.json.incidents[0]).toMatchObject({ customer: ghost, severity: "medium", expected: null, actual: { plan: "free", premium: false } });
    const m = (await check(c.missing)).json.incidents.find((i) => i.kind === "missing_access");
    expect(m).toMatchObject({ severity: "high", expected: { plan: "pro", premium: true, entitlements: ["sso"] }, actual: { plan: "free", premium: false } });
  });

  it("a second check opens nothing new, and an incident keeps the state it was decided on", async () => {
    const before = await w.get(`/v1/projects/${p.id}/incidents?status=open&limit=100`, { key: o.key });
    for (const name of ["missing", "canceled_granted", "downgrade", "stripe_only"]) await check(c[name]);
    const after = await w.get(`/v1/projects/${p.id}/incidents?status=open&limit=100`, { key: o.key });
    expect(after.json.data.map((i) => i.id)).toEqual(before.json.data.map((i) => i.id));
    const one = await w.get(`/v1/projects/${p.id}/incidents/${after.json.data[0].id}`, { key: o.key });
    expect(one.json.snapshots).toHaveLength(1);
    expect(one.json.snapshots[0]).toHaveProperty("stripe");
  });

  it("fixing the row by hand and checking again resolves the incidents with a reason", async () => {
    sql(`UPDATE accounts SET plan = 'pro', is_premium = true, feature_sso = true WHERE stripe_customer_id = '${c.missing}'`);
    const r = await check(c.missing);
    expect(kinds(r)).toEqual([]);
    const resolved = await w.get(`/v1/projects/${p.id}/incidents?customer=${c.missing}&status=resolved`, { key: o.key });
    expect(resolved.json.data.map((i) => i.kind).sort()).toEqual(["entitlement_mismatch", "missing_access"]);
    expect(resolved.json.data[0].reason).toMatch(/drift is gone/);
    expect(resolved.json.data[0].resolved_at).toBeTruthy();
  });

  it("an ignored drift stays ignored while unchanged; a changed drift opens a new incident", async () => {
    const list = await w.get(`/v1/projects/${p.id}/incidents?customer=${c.downgrade}&kind=plan_mismatch`, { key: o.key });
    const inc = list.json.data[0];
    const member = await addMember(w, o.liveKey, "member");
    const memberKey = (await newKey(w, o.key, { member_id: member.id, environment: "test" })).key;
    expect(errorOf(await w.post(`/v1/projects/${p.id}/incidents/${inc.id}/ignore`, { reason: "x" }, { key: memberKey }))).toMatchObject({ status: 403 });
    expect(errorOf(await w.post(`/v1/projects/${p.id}/incidents/${inc.id}/ignore`, {}, { key: o.key }))).toMatchObject({ status: 400 });
    const ig = await w.post(`/v1/projects/${p.id}/incidents/${inc.id}/ignore`, { reason: "legacy contract" }, { key: o.key });
    expect(ig.status, ig.text).toBe(200);
    expect(ig.json).toMatchObject({ status: "ignored", reason: "legacy contract" });
    expect(errorOf(await w.post(`/v1/projects/${p.id}/incidents/${inc.id}/ignore`, { reason: "again" }, { key: o.key }))).toMatchObject({ status: 409, code: "incident_not_open" });
    expect(kinds(await check(c.downgrade))).toEqual(["entitlement_mismatch"]);
    // The app changes the plan to something else: a different drift, a new incident.
    sql(`UPDATE accounts SET plan = 'legacy' WHERE stripe_customer_id = '${c.downgrade}'`);
    expect(kinds(await check(c.downgrade))).toEqual(["entitlement_mismatch", "plan_mismatch"]);
    const all = await w.get(`/v1/projects/${p.id}/incidents?customer=${c.downgrade}&kind=plan_mismatch`, { key: o.key });
    expect(all.json.data.map((i) => i.status).sort()).toEqual(["ignored", "open"]);
  });

  it("filters, pages and refuses bad filters", async () => {
    const high = await w.get(`/v1/projects/${p.id}/incidents?kind=missing_access`, { key: o.key });
    expect(high.json.data.every((i) => i.kind === "missing_access")).toBe(true);
    const first = await w.get(`/v1/projects/${p.id}/incidents?limit=2`, { key: o.key });
    expect(first.json.data).toHaveLength(2);
    const second = await w.get(`/v1/projects/${p.id}/incidents?limit=2&cursor=${first.json.next_cursor}`, { key: o.key });
    expect(second.json.data[0].id > first.json.data[1].id).toBe(true);
    for (const q of ["status=closed", "kind=bogus", "customer=x'y"]) {
      expect(errorOf(await w.get(`/v1/projects/${p.id}/incidents?${q}`, { key: o.key })), q).toMatchObject({ status: 400 });
    }
  });

  it("incidents and checks stay in their tenant and need the right key", async () => {
    const inc = (await w.get(`/v1/projects/${p.id}/incidents?limit=1`, { key: o.key })).json.data[0];
    const other = await newOrg(w);
    const op = await newProject(w, other.key);
    expect(errorOf(await w.get(`/v1/projects/${op.id}/incidents/${inc.id}`, { key: other.key }))).toMatchObject({ status: 404, code: "not_found" });
    expect(errorOf(await w.get(`/v1/projects/${p.id}/incidents/${inc.id}`, { key: other.key }))).toMatchObject({ status: 404, code: "not_found" });
    expect(errorOf(await w.get(`/v1/projects/${p.id}/incidents/inc_0000000000000000000000`, { key: o.key }))).toMatchObject({ status: 404 });
    const read = (await newKey(w, o.key, { capability: "read", environment: "test" })).key;
    expect(errorOf(await check(c.parity, read))).toMatchObject({ status: 403 });
    expect(errorOf(await check("not-a-customer!"))).toMatchObject({ status: 404 });
  });

  it("leaves an audit chain that verifies, with every incident change recorded", async () => {
    const v = await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key });
    expect(v.json).toMatchObject({ ok: true });
    const audit = (await w.get(`/v1/projects/${p.id}/audit?limit=100`, { key: o.key })).json.data;
    const actions = new Set(audit.map((e) => e.action));
    for (const a of ["incident.opened", "incident.resolved", "incident.ignored"]) expect(actions).toContain(a);
  });
});
