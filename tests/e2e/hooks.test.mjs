// Outbound incident webhooks against the built worker: a local receiver stands in for the
// customer's endpoints and checks every request with the `standardwebhooks` library (the
// reference implementation of the Standard Webhooks specification) against the secrets the API
// handed out. A reconcile run over real localstripe and PostgreSQL opens the incidents; ignoring
// incidents makes more events. Retries, rotation (two secrets valid), replay, disabling on 410
// and after "24 hours" of failure (the schedule shortened by HOOK_RETRY_UNIT_US) and the
// registration rules are checked.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { startWorker } from "./harness.mjs";
import { errorOf, newProject } from "./fixtures.mjs";
import { FAST, env, mappingFor, scratchTable, seedScenario, sql, until as waitFor, wiredProject } from "./reconcile-fixtures.mjs";

// What each receiver path answers to the n-th send of one message.
const answers = {
  "/ok": () => 204,
  "/flaky": (n) => (n <= 2 ? 500 : 200),
  "/gone": () => 410,
  "/down": () => 503,
  "/repairs": () => 202,
};
const got = [];
const sends = new Map();
const receiver = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const id = req.headers["webhook-id"];
    const n = (sends.get(req.url + id) ?? 0) + 1;
    sends.set(req.url + id, n);
    got.push({ path: req.url, at: Date.now(), headers: req.headers, body });
    res.writeHead(answers[req.url]?.(n) ?? 404);
    res.end("ok");
  });
});

/** Whether the standardwebhooks library accepts the message under `secret`. */
function verifies(secret, m) {
  try {
    new Webhook(secret).verify(m.body, {
      "webhook-id": m.headers["webhook-id"],
      "webhook-timestamp": m.headers["webhook-timestamp"],
      "webhook-signature": m.headers["webhook-signature"],
    });
    return true;
  } catch {
    return false;
  }
}

let w, o, p, base, table, c;
beforeAll(async () => {
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${receiver.address().port}`;
  // 100 µs to a second of the retry schedule: the 24-hour disabling window is 8.6 s.
  // The receiver listens on loopback: this deployment lets a test project point there.
  w = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), ...FAST, HOOK_RETRY_UNIT_US: "100", HOOK_ALLOW_PRIVATE: "1" });
  table = scratchTable("hooks");
  ({ o, p } = await wiredProject(w, { mapping: mappingFor(table) }));
  c = seedScenario(table);
}, 90_000);
afterAll(async () => {
  await w?.dispose();
  receiver.close();
});

// On a timeout: what the receiver got last and the worker's error lines.
const explain = () => {
  const seen = got.map((m) => `${m.path} ${m.headers["webhook-id"]} ${JSON.parse(m.body).type}`);
  const log = w.logs.join("").split("\n").filter((l) => /error|hooks|drain/i.test(l) && !/"status":4/.test(l));
  return `; received: ${JSON.stringify(seen.slice(-20))}; worker log: ${log.slice(-15).join("\n")}`;
};
const until = (what, f, ms = 30_000) => waitFor(what, f, ms, explain);
const at = (path) => got.filter((m) => m.path === path);
const hooks = () => `/v1/projects/${p.id}/webhook-endpoints`;
const create = (body, key = o.key) => w.post(hooks(), body, { key });

async function all(path) {
  const out = [];
  let cursor = "";
  for (;;) {
    const r = await w.get(`${path}${path.includes("?") ? "&" : "?"}limit=100${cursor ? `&cursor=${cursor}` : ""}`, { key: o.key });
    expect(r.status, r.text).toBe(200);
    out.push(...r.json.data);
    if (!r.json.next_cursor) return out;
    cursor = r.json.next_cursor;
  }
}
const chain = () => all(`/v1/projects/${p.id}/audit`);
const openIncidents = async () => (await all(`/v1/projects/${p.id}/incidents?status=open`));
async function ignoreOne() {
  const i = (await openIncidents())[0];
  expect(i, "an open incident left to ignore").toBeTruthy();
  const r = await w.post(`/v1/projects/${p.id}/incidents/${i.id}/ignore`, { reason: "expected in this test" }, { key: o.key });
  expect(r.status, r.text).toBe(200);
  return i;
}

let a; // the endpoint at /ok (incident.*), with its secret

describe("outbound incident webhooks", () => {
  it("registers an endpoint: its whsec_ secret is shown once, stored sealed, never echoed", async () => {
    const r = await create({ url: `${base}/ok`, events: ["incident.*"], description: "on-call" });
    expect(r.status, r.text).toBe(201);
    expect(r.json.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(r.json.endpoint).toMatchObject({ url: `${base}/ok`, events: ["incident.*"], status: "enabled", description: "on-call", project_id: p.id });
    a = { id: r.json.endpoint.id, secret: r.json.secret };
    const listed = await w.get(hooks(), { key: o.key });
    const one = await w.get(`${hooks()}/${a.id}`, { key: o.key });
    for (const x of [listed, one]) {
      expect(x.status, x.text).toBe(200);
      expect(x.text).not.toContain(a.secret.slice(6));
      expect(x.text).not.toMatch(/secret_sealed|"secret"/);
    }
    expect(listed.json.data.map((e) => e.id)).toContain(a.id);
    const db = await w.d1();
    const row = await db.prepare("SELECT secret_sealed FROM hook_endpoints WHERE id = ?").bind(a.id).first();
    expect(row.secret_sealed).not.toContain(a.secret.slice(6));
    const created = (await chain()).find((e) => e.action === "webhook_endpoint.created" && e.target === `webhook_endpoint:${a.id}`);
    expect(created).toBeTruthy();
    expect(JSON.stringify(created)).not.toContain(a.secret.slice(6));
  });

  it("refuses bad registrations with the field at fault", async () => {
    for (const [body, field] of [
      [{ url: "ftp://example.com/x" }, "url"],
      [{ url: "https://u:p@example.com/x" }, "url"],
      [{ url: `${base}/ok`, events: ["incident.updated"] }, "events"],
      [{ url: `${base}/ok`, events: [] }, "events"],
      [{ url: `${base}/ok`, description: "a\nb" }, "description"],
    ]) {
      const r = await create(body);
      expect(errorOf(r), JSON.stringify(body)).toMatchObject({ status: 400 });
      expect(r.json.error.field).toBe(field);
    }
    const unknown = await create({ url: `${base}/ok`, secret: "whsec_mine" });
    expect(errorOf(unknown)).toMatchObject({ status: 400, code: "invalid_field" });
  });

  it("refuses private, loopback and link-local addresses in a live project, whatever the deployment allows test projects", async () => {
    const live = await newProject(w, o.liveKey);
    const at = `/v1/projects/${live.id}/webhook-endpoints`;
    for (const url of ["http://hooks.example.com/x", "https://127.0.0.1/x", "https://10.0.0.8/x", "https://169.254.169.254/latest", "https://[::1]/x", "https://localhost/x", "https://[::ffff:192.168.0.1]/x"]) {
      const r = await w.post(at, { url }, { key: o.liveKey });
      expect([r.status, r.json.error?.field], url).toEqual([400, "url"]);
    }
    const ok = await w.post(at, { url: "https://hooks.example.com/parityrail" }, { key: o.liveKey });
    expect(ok.status, ok.text).toBe(201);
    // Deleted with its history, audited.
    const del = await w.delete(`${at}/${ok.json.endpoint.id}`, { key: o.liveKey });
    expect(del.status, del.text).toBe(200);
    expect((await w.get(`${at}/${ok.json.endpoint.id}`, { key: o.liveKey })).status).toBe(404);
  });

  it("delivers a run's incident.opened events, each verified by the standardwebhooks library", async () => {
    const started = await w.post(`/v1/projects/${p.id}/runs`, undefined, { key: o.key });
    expect(started.status, started.text).toBe(202);
    await until("the run's end", async () => {
      const r = (await w.get(`/v1/projects/${p.id}/runs/${started.json.id}`, { key: o.key })).json;
      return r.status !== "running";
    }, 120_000);
    const opened = await openIncidents();
    expect(opened.length).toBeGreaterThanOrEqual(5);
    await until("every incident.opened", async () => at("/ok").length >= opened.length);
    const msgs = at("/ok");
    expect(msgs).toHaveLength(opened.length);
    const other = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    for (const m of msgs) {
      expect(verifies(a.secret, m), m.headers["webhook-id"]).toBe(true);
      expect(verifies(other, m)).toBe(false);
      expect(verifies(a.secret, { ...m, body: m.body.replace("incident", "incident ") })).toBe(false);
      expect(m.headers["webhook-id"]).toMatch(/^evt_\w{22}$/);
      expect(m.headers["content-type"]).toBe("application/json");
      const v = JSON.parse(m.body);
      expect(v.type).toBe("incident.opened");
      expect(v.data.project_id).toBe(p.id);
      expect(opened.map((i) => i.id)).toContain(v.data.incident.id);
    }
    expect(new Set(msgs.map((m) => m.headers["webhook-id"])).size).toBe(msgs.length);
    // The subscription holds: the run's repair.created events did not go to incident.* only.
    expect(msgs.every((m) => JSON.parse(m.body).type.startsWith("incident."))).toBe(true);
    const d = await all(`${hooks()}/${a.id}/deliveries`);
    expect(d).toHaveLength(opened.length);
    for (const x of d) {
      expect(x).toMatchObject({ endpoint_id: a.id, status: "delivered", attempt_count: 1, event_type: "incident.opened" });
      expect(x.attempts).toHaveLength(1);
      expect(x.attempts[0]).toMatchObject({ n: 1, status: 204 });
    }
  }, 180_000);

  it("sends repair.* and incident.resolved to an endpoint subscribed to them, and nothing else", async () => {
    const r = await create({ url: `${base}/repairs`, events: ["repair.*", "incident.resolved"] });
    expect(r.status, r.text).toBe(201);
    const e = { id: r.json.endpoint.id, secret: r.json.secret };
    const type = (m) => JSON.parse(m.body).type;
    const [rep] = (await w.get(`/v1/projects/${p.id}/repairs?status=pending`, { key: o.key })).json.data;
    expect(rep, "a pending repair the run proposed").toBeTruthy();
    const rejected = await w.post(`/v1/projects/${p.id}/repairs/${rep.id}/reject`, { reason: "not in this test" }, { key: o.key });
    expect(rejected.status, rejected.text).toBe(200);
    const m = await until("repair.rejected", async () => at("/repairs").find((m) => type(m) === "repair.rejected"));
    expect(verifies(e.secret, m)).toBe(true);
    expect(JSON.parse(m.body).data.repair).toMatchObject({ id: rep.id, status: "rejected" });
    // The paying customer is given access in the app: a check resolves the incident.
    sql(`UPDATE ${table} SET plan = 'pro', is_premium = true, feature_sso = true WHERE stripe_customer_id = '${c.missing}'`);
    const checked = await w.post(`/v1/projects/${p.id}/customers/${c.missing}/check`, undefined, { key: o.key });
    expect(checked.status, checked.text).toBe(200);
    const res = await until("incident.resolved", async () => at("/repairs").find((m) => type(m) === "incident.resolved"));
    expect(verifies(e.secret, res)).toBe(true);
    expect(JSON.parse(res.body).data.incident).toMatchObject({ customer: c.missing, status: "resolved" });
    expect(at("/repairs").every((m) => /^repair\.|^incident\.resolved$/.test(type(m)))).toBe(true);
    // Done with it: deleted, so the later tests count only their own endpoints' deliveries.
    expect((await w.delete(`${hooks()}/${e.id}`, { key: o.key })).status).toBe(200);
  }, 60_000);

  it("retries a failing endpoint with backoff under one webhook-id, each attempt listed", async () => {
    const r = await create({ url: `${base}/flaky`, events: ["incident.ignored"] });
    expect(r.status, r.text).toBe(201);
    const b = { id: r.json.endpoint.id, secret: r.json.secret };
    const i = await ignoreOne();
    await until("three sends", async () => at("/flaky").length >= 3);
    const msgs = at("/flaky");
    expect(new Set(msgs.map((m) => m.headers["webhook-id"])).size).toBe(1);
    for (const m of msgs) expect(verifies(b.secret, m)).toBe(true);
    expect(JSON.parse(msgs[0].body).data.incident).toMatchObject({ id: i.id, status: "ignored" });
    const [d] = await until("delivered", async () => {
      const l = await all(`${hooks()}/${b.id}/deliveries`);
      return l[0]?.status === "delivered" && l;
    });
    expect(d.attempt_count).toBe(3);
    expect(d.attempts.map((x) => x.status)).toEqual([500, 500, 200]);
    expect(d.last_status).toBe(200);
    // And the incident.* endpoint got the same event.
    await until("incident.ignored at /ok", async () => at("/ok").some((m) => JSON.parse(m.body).type === "incident.ignored"));
  }, 60_000);

  it("signs with both secrets during a rotation, then with the new one only", async () => {
    const r = await w.post(`${hooks()}/${a.id}/rotate`, { grace_seconds: 3600 }, { key: o.key });
    expect(r.status, r.text).toBe(200);
    const second = r.json.secret;
    expect(second).not.toBe(a.secret);
    expect(r.json.endpoint.previous_secret_valid_until).toBeTruthy();
    const before = at("/ok").length;
    await ignoreOne();
    const m = await until("a message after the rotation", async () => at("/ok")[before]);
    expect(m.headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(verifies(second, m)).toBe(true);
    expect(verifies(a.secret, m)).toBe(true);
    const r2 = await w.post(`${hooks()}/${a.id}/rotate`, { grace_seconds: 0 }, { key: o.key });
    expect(r2.status, r2.text).toBe(200);
    const third = r2.json.secret;
    const n = at("/ok").length;
    await ignoreOne();
    const m2 = await until("a message after the second rotation", async () => at("/ok")[n]);
    expect(verifies(third, m2)).toBe(true);
    expect(verifies(second, m2)).toBe(false);
    expect(verifies(a.secret, m2)).toBe(false);
    a.secret = third;
    const rotated = (await chain()).filter((e) => e.action === "webhook_endpoint.secret_rotated");
    expect(rotated).toHaveLength(2);
    expect(JSON.stringify(rotated)).not.toContain(third.slice(6));
  }, 60_000);

  it("replays one event by id: the same webhook-id, signed anew", async () => {
    const first = at("/ok")[0];
    const id = first.headers["webhook-id"];
    const r = await w.post(`/v1/projects/${p.id}/webhook-events/${id}/replay`, {}, { key: o.key });
    expect(r.status, r.text).toBe(202);
    expect(r.json.deliveries.map((d) => d.endpoint_id)).toEqual([a.id]);
    const again = await until("the replay", async () => at("/ok").filter((m) => m.headers["webhook-id"] === id)[1]);
    expect(again.body).toBe(first.body);
    expect(verifies(a.secret, again)).toBe(true);
    expect((await chain()).some((e) => e.action === "webhook_event.replayed" && e.target === `webhook_event:${id}`)).toBe(true);
    const missing = await w.post(`/v1/projects/${p.id}/webhook-events/evt_${"0".repeat(22)}/replay`, {}, { key: o.key });
    expect(errorOf(missing)).toMatchObject({ status: 404, code: "not_found" });
  }, 30_000);

  it("disables an endpoint that answers 410, and one that failed every send for 24 hours (audited)", async () => {
    const gone = (await create({ url: `${base}/gone`, events: ["incident.ignored"] })).json.endpoint;
    const down = (await create({ url: `${base}/down`, events: ["incident.ignored"] })).json.endpoint;
    await ignoreOne();
    const g = await until("the 410 endpoint disabled", async () => {
      const e = (await w.get(`${hooks()}/${gone.id}`, { key: o.key })).json;
      return e.status === "disabled" && e;
    });
    expect(g.disabled_reason).toMatch(/410/);
    expect(at("/gone")).toHaveLength(1);
    const d = await until("the failing endpoint disabled", async () => {
      const e = (await w.get(`${hooks()}/${down.id}`, { key: o.key })).json;
      return e.status === "disabled" && e;
    }, 60_000);
    expect(d.disabled_reason).toMatch(/24 hours/);
    const [dl] = await all(`${hooks()}/${down.id}/deliveries`);
    expect(dl.status).toBe("failed");
    expect(dl.attempt_count).toBeGreaterThanOrEqual(2);
    expect(dl.attempt_count).toBeLessThanOrEqual(8);
    expect(dl.attempts.every((x) => x.status === 503)).toBe(true);
    // Backing off with jitter: each wait within ±10% of its nominal length (5 s, 5 min, 30 min,
    // 2 h, 5 h, 10 h at 100 µs a second: 0.5, 30, 180, 720, 1800, 3600 ms), plus the drain's own
    // overhead; the last send came at least "24 hours" after the first.
    const nominal = [0.5, 30, 180, 720, 1800, 3600, 3600];
    const t = dl.attempts.map((x) => Date.parse(x.at));
    for (let k = 2; k < t.length - 1; k++) {
      const gap = t[k + 1] - t[k];
      expect(gap, `wait ${k + 1}`).toBeGreaterThanOrEqual(Math.floor(nominal[k] * 0.9));
      expect(gap, `wait ${k + 1}`).toBeLessThanOrEqual(nominal[k] * 1.1 + 1_500);
    }
    expect(t.at(-1) - t[0]).toBeGreaterThanOrEqual(8_640);
    const disabled = (await chain()).filter((e) => e.action === "webhook_endpoint.disabled");
    expect(disabled.map((e) => e.target).sort()).toEqual([`webhook_endpoint:${gone.id}`, `webhook_endpoint:${down.id}`].sort());
    expect(disabled.every((e) => e.actor === "system:webhooks")).toBe(true);
    // Nothing more goes to a disabled endpoint; a replay to it is refused until it is enabled.
    const sentDown = at("/down").length;
    await ignoreOne();
    await until("the next event at /ok", async () => at("/ok").length > 0 && JSON.parse(at("/ok").at(-1).body).type === "incident.ignored");
    await new Promise((r) => setTimeout(r, 1_000));
    expect(at("/down").length).toBe(sentDown);
    const evt = at("/ok").at(-1).headers["webhook-id"];
    const refused = await w.post(`/v1/projects/${p.id}/webhook-events/${evt}/replay`, { endpoint_id: down.id }, { key: o.key });
    expect(errorOf(refused)).toMatchObject({ status: 409, code: "endpoint_disabled" });
    const enabled = await w.patch(`${hooks()}/${down.id}`, { enabled: true }, { key: o.key });
    expect(enabled.status, enabled.text).toBe(200);
    expect(enabled.json).toMatchObject({ status: "enabled", disabled_reason: null, failing_since: null });
  }, 90_000);
});
