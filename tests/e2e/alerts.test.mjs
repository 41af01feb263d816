// Alert e-mail against the built worker: a local HTTP server stands in for the Resend API and
// records every request; it answers each new digest 429 (Retry-After: 0), then 500, then 200, so
// every digest is sent three times under one Idempotency-Key by the project's Durable Object.
// A reconcile run over real localstripe and PostgreSQL opens the incidents; the e-mails, the
// recipients (the org's owner and admins, then the project's own list), a 4xx that fails a
// digest for good, and the audit entries are checked.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import { randomBytes } from "node:crypto";
import { startWorker } from "./harness.mjs";
import { addMember, newKey } from "./fixtures.mjs";
import { FAST, appRow, env, mappingFor, scenarioCustomers, scratchTable, seedScenario, sql, until, wiredProject } from "./reconcile-fixtures.mjs";

const RESEND_KEY = `re_test_${randomBytes(12).toString("hex")}`;
const received = [];
let refuse = false;
const sends = new Map();
const resend = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const key = req.headers["idempotency-key"];
    received.push({ path: req.url, headers: req.headers, body: JSON.parse(body || "{}") });
    const n = (sends.get(key) ?? 0) + 1;
    sends.set(key, n);
    if (refuse) {
      res.writeHead(422, { "content-type": "application/json" });
      return res.end(JSON.stringify({ name: "validation_error", message: "invalid to" }));
    }
    if (n === 1) {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "0" });
      return res.end(JSON.stringify({ name: "rate_limit_exceeded" }));
    }
    if (n === 2) {
      res.writeHead(500, { "content-type": "application/json" });
      return res.end("{}");
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: `em_${randomBytes(4).toString("hex")}` }));
  });
});

let w, o, p, c, table;
beforeAll(async () => {
  await new Promise((r) => resend.listen(0, "127.0.0.1", r));
  w = await startWorker({
    STRIPE_API_BASE: env("PR_STRIPE_BASE"),
    ...FAST,
    RESEND_API_KEY: RESEND_KEY,
    RESEND_API_BASE: `http://127.0.0.1:${resend.address().port}`,
    ALERT_RETRY_BASE_MS: "200",
    PUBLIC_ORIGIN: "https://parityrail.example",
  });
  table = scratchTable("alerts");
  ({ o, p } = await wiredProject(w, { mapping: mappingFor(table) }));
  c = seedScenario(table);
}, 90_000);
afterAll(async () => {
  await w?.dispose();
  resend.close();
});


async function chain() {
  const out = [];
  let cursor = "";
  for (;;) {
    const r = await w.get(`/v1/projects/${p.id}/audit?limit=100${cursor ? `&cursor=${cursor}` : ""}`, { key: o.key });
    expect(r.status, r.text).toBe(200);
    out.push(...r.json.data);
    if (!r.json.next_cursor) return out;
    cursor = r.json.next_cursor;
  }
}

async function highOpen() {
  const all = [];
  let cursor = "";
  for (;;) {
    const r = await w.get(`/v1/projects/${p.id}/incidents?status=open&limit=100${cursor ? `&cursor=${cursor}` : ""}`, { key: o.key });
    all.push(...r.json.data);
    if (!r.json.next_cursor) break;
    cursor = r.json.next_cursor;
  }
  return all.filter((i) => i.severity === "high");
}

async function runToEnd() {
  const started = await w.post(`/v1/projects/${p.id}/runs`, undefined, { key: o.key });
  expect(started.status, started.text).toBe(202);
  const run = await until("the run's end", async () => {
    const r = (await w.get(`/v1/projects/${p.id}/runs/${started.json.id}`, { key: o.key })).json;
    return r.status !== "running" && r;
  }, 120_000);
  expect(run.status, JSON.stringify(run)).toBe("succeeded");
  return run;
}

describe("alert e-mail", () => {
  it("mails a run's high-severity incidents once, as one digest retried through 429 and 500 under one Idempotency-Key", async () => {
    await runToEnd();
    const high = await highOpen();
    const kinds = new Set(high.map((i) => i.kind));
    expect([...kinds].every((k) => k === "missing_access" || k === "unpaid_access")).toBe(true);
    expect(high.some((i) => i.customer === c.missing && i.kind === "missing_access")).toBe(true);
    // The run's whole burst is one digest, sent three times (429, 500, 200).
    await until("the digest sent", async () => [...sends.values()].some((n) => n >= 3));
    const keys = [...new Set(received.map((r) => r.headers["idempotency-key"]))];
    expect(keys).toHaveLength(1);
    for (const k of keys) {
      const of = received.filter((r) => r.headers["idempotency-key"] === k);
      expect(of).toHaveLength(3);
      expect(new Set(of.map((r) => JSON.stringify(r.body))).size, "a retry sends the same e-mail").toBe(1);
    }
    const first = received[0];
    expect(first.path).toBe("/emails");
    expect(first.headers.authorization).toBe(`Bearer ${RESEND_KEY}`);
    // The org's owner (no admin, no project list yet), and nothing but customer, kind and link.
    expect(first.body.to).toEqual([o.owner.email]);
    const text = first.body.text;
    // Each listed incident (the first 50) with its customer, kind and link; then how many more.
    const listed = [...text.matchAll(/^- (\w+): (\w+)\n  https:\/\/parityrail\.example\/projects\/(prj_\w+)\/incidents\/(inc_\w+)\n/gm)];
    expect(listed).toHaveLength(Math.min(50, high.length));
    for (const [, customer, kind, pid, iid] of listed) {
      expect(pid).toBe(p.id);
      expect(high.find((i) => i.id === iid)).toMatchObject({ customer, kind });
    }
    if (high.length > 50) expect(text).toContain(`- and ${high.length - 50} more: https://parityrail.example/projects/${p.id}/incidents?status=open\n`);
    expect(first.body.subject).toMatch(new RegExp(`^ParityRail: ${high.length} customers? `));
    expect(text).not.toMatch(/sk_test_|re_test_|postgres|password|feature_sso|is_premium/);
    // Audited: one alert.sent per digest, on the project's chain, naming how many incidents.
    const sent = (await chain()).filter((e) => e.action === "alert.sent");
    expect(sent).toHaveLength(1);
    expect(sent[0].after.incidents).toBe(high.length);
    expect(sent[0].actor).toBe("system:alerts");
  }, 180_000);

  it("never mails an incident twice: a second run that finds the same drift sends nothing", async () => {
    const before = received.length;
    await runToEnd();
    await new Promise((r) => setTimeout(r, 2_000));
    expect(received.length).toBe(before);
  }, 180_000);

  it("mails the project's own list once set, and a digest Resend refuses fails for good, audited", async () => {
    const list = ["alerts@acme.test", "Oncall@Acme.test"];
    const r = await w.patch(`/v1/projects/${p.id}`, { alert_recipients: list }, { key: o.key });
    expect(r.status, r.text).toBe(200);
    expect(r.json.alert_recipients).toEqual(["alerts@acme.test", "oncall@acme.test"]);
    // Where alerts go is the org's to decide: a key limited to this project, even with the
    // owner's role, may rename the project but not redirect its alerts.
    const scoped = await newKey(w, o.liveKey, { environment: "test", project_id: p.id });
    const redirected = await w.patch(`/v1/projects/${p.id}`, { alert_recipients: ["attacker@evil.test"] }, { key: scoped.key });
    expect([redirected.status, redirected.json.error.code]).toEqual([403, "key_scope"]);
    expect((await w.patch(`/v1/projects/${p.id}`, { name: "renamed" }, { key: scoped.key })).status).toBe(200);
    // Nor may an org member made admin of this project only (an override).
    const m = await addMember(w, o.liveKey, "member");
    const set = await w.put(`/v1/projects/${p.id}/members/${m.id}`, { role: "admin" }, { key: o.key });
    expect(set.status, set.text).toBe(200);
    const mk = await newKey(w, o.liveKey, { environment: "test", member_id: m.id });
    expect((await w.patch(`/v1/projects/${p.id}`, { name: "renamed again" }, { key: mk.key })).status).toBe(200);
    const byOverride = await w.patch(`/v1/projects/${p.id}`, { alert_recipients: ["attacker@evil.test"] }, { key: mk.key });
    expect(byOverride.status, byOverride.text).toBe(403);
    expect((await w.get(`/v1/projects/${p.id}`, { key: o.key })).json.alert_recipients).toEqual(["alerts@acme.test", "oncall@acme.test"]);
    const bad = await w.patch(`/v1/projects/${p.id}`, { alert_recipients: ["not an address"] }, { key: o.key });
    expect([bad.status, bad.json.error.field]).toEqual([400, "alert_recipients"]);
    refuse = true;
    const before = received.length;
    // A new customer paying without access: a single-customer check opens it, the cron wakes the drain.
    const fresh = scenarioCustomers().missing;
    sql(`INSERT INTO ${table} (stripe_customer_id, plan, is_premium, on_trial, feature_sso) VALUES ${appRow(fresh, "free", false, false)}`);
    const checked = await w.post(`/v1/projects/${p.id}/customers/${fresh}/check`, undefined, { key: o.key });
    expect(checked.status, checked.text).toBe(200);
    const opened = checked.json.incidents.filter((i) => i.severity === "high" && i.status === "open");
    expect(opened.length).toBeGreaterThan(0);
    await w.mf.getWorker().then((wk) => wk.scheduled({ cron: "*/5 * * * *" }));
    await until("the refused send", async () => received.length > before);
    const mail = received.at(-1);
    expect(mail.body.to).toEqual(["alerts@acme.test", "oncall@acme.test"]);
    expect(mail.body.text).toContain(fresh);
    const failed = await until("alert.failed", async () => (await chain()).filter((e) => e.action === "alert.failed").at(0));
    expect(failed.after.error).toMatch(/HTTP 422/);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(received.length, "a 4xx is not retried").toBe(before + 1);
  }, 120_000);
});
