// Integrations (issue 3): the vault, the Stripe key rules, the read-only connectors driven from
// the worker against a real localstripe and a real PostgreSQL, and their failures.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCipheriv, randomBytes } from "node:crypto";
import { startWorker } from "./harness.mjs";
import { errorOf, newKey, newOrg, newProject } from "./fixtures.mjs";
import { closedPort, fakeStripe, silentTcp, stallingProxy } from "./faults.mjs";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite with \`npm test\` (it starts PostgreSQL and localstripe)`);
  return v;
};
const FAST = { STRIPE_RETRY_ATTEMPTS: "3", STRIPE_RETRY_BASE_MS: "5", STRIPE_RETRY_MAX_MS: "20", STRIPE_TIMEOUT_MS: "400", DB_TIMEOUT_MS: "1500" };
const secret = (prefix) => prefix + randomBytes(18).toString("hex");

let w;
let o;
let testKey;
beforeAll(async () => {
  w = await startWorker({ STRIPE_API_BASE: env("PR_STRIPE_BASE"), ...FAST });
  o = await newOrg(w);
  testKey = (await newKey(w, o.key, { environment: "test" })).key;
});
afterAll(async () => w?.dispose());

const put = (key, pid, kind, body) => w.put(`/v1/projects/${pid}/integrations/${kind}`, body, { key });
const integrations = async (key, pid) => (await w.get(`/v1/projects/${pid}/integrations`, { key })).json;
const auditLen = async (key, pid) => (await w.get(`/v1/projects/${pid}/audit?limit=100`, { key })).json.data.length;

describe("Stripe key rules", () => {
  it("a live project refuses sk_live_ keys and explains why a restricted key is needed", async () => {
    const p = await newProject(w, o.key);
    const r = await put(o.key, p.id, "stripe", { api_key: secret("sk_live_"), webhook_secrets: [] });
    expect(errorOf(r)).toMatchObject({ status: 400, code: "invalid_field" });
    expect(r.json.error.field).toBe("api_key");
    expect(r.json.error.message).toMatch(/restricted key \(rk_live_\)/);
    for (const k of [secret("rk_test_"), secret("sk_test_"), "pk_live_abc", "sk_live_x y"]) {
      expect(errorOf(await put(o.key, p.id, "stripe", { api_key: k })).status).toBe(400);
    }
    expect((await integrations(o.key, p.id)).stripe).toBeNull();
  });

  it("a live project takes a restricted live key, checked with Stripe first", async () => {
    const fake = await fakeStripe("ok");
    const lw = await startWorker({ STRIPE_API_BASE: fake.base, ...FAST });
    try {
      const lo = await newOrg(lw);
      const p = await newProject(lw, lo.key);
      const key = secret("rk_live_");
      const r = await lw.put(`/v1/projects/${p.id}/integrations/stripe`, { api_key: key, webhook_secrets: [secret("whsec_")] }, { key: lo.key });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({ key_prefix: "rk_live_", key_last4: key.slice(-4), restricted: true, account_id: "acct_fake123", webhook_secrets: 1 });
      expect(fake.hits.map((h) => h.method)).toEqual(["GET"]);
      expect(fake.hits[0].auth).toBe(`Bearer ${key}`);
    } finally {
      await lw.dispose();
      await fake.close();
    }
  });

  it("a test project takes sk_test_ keys; a key Stripe rejects is a 400 and nothing is stored", async () => {
    const p = await newProject(w, testKey);
    const rejected = await put(testKey, p.id, "stripe", { api_key: secret("rk_test_") }); // localstripe accepts sk_ only
    expect(errorOf(rejected)).toMatchObject({ status: 400, code: "stripe_key_rejected" });
    expect((await integrations(testKey, p.id)).stripe).toBeNull();
    const key = secret("sk_test_");
    const r = await put(testKey, p.id, "stripe", { api_key: key, webhook_secrets: [secret("whsec_"), secret("whsec_")] });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ key_prefix: "sk_test_", key_last4: key.slice(-4), restricted: false, account_id: null, webhook_secrets: 2 });
    expect((await integrations(testKey, p.id)).stripe).toMatchObject({ key_last4: key.slice(-4), webhook_secrets: 2 });
    // A new key without `webhook_secrets` keeps the stored secrets; `[]` removes them.
    const key2 = secret("sk_test_");
    const kept = await put(testKey, p.id, "stripe", { api_key: key2 });
    expect(kept.json).toMatchObject({ key_last4: key2.slice(-4), webhook_secrets: 2 });
    const cleared = await put(testKey, p.id, "stripe", { api_key: key2, webhook_secrets: [] });
    expect(cleared.json).toMatchObject({ webhook_secrets: 0 });
  });

  it("webhook secrets are validated", async () => {
    const p = await newProject(w, testKey);
    const three = [secret("whsec_"), secret("whsec_"), secret("whsec_")];
    for (const ws of [three, ["not-a-secret"]]) {
      const r = await put(testKey, p.id, "stripe", { api_key: secret("sk_test_"), webhook_secrets: ws });
      expect(errorOf(r)).toMatchObject({ status: 400 });
      expect(r.json.error.field).toBe("webhook_secrets");
    }
  });
});

describe("the Stripe connector from the worker", () => {
  it("reads customers, subscriptions and products from localstripe with the stored key", async () => {
    const p = await newProject(w, testKey);
    expect((await put(testKey, p.id, "stripe", { api_key: secret("sk_test_") })).status).toBe(200);
    const r = await w.post(`/v1/projects/${p.id}/integrations/stripe/test`, undefined, { key: testKey });
    expect(r.status, r.text).toBe(200);
    expect(r.json.ok).toBe(true);
    expect(r.json.first_page).toMatchObject({ customers: 100, more_customers: true });
    expect(r.json.first_page.subscriptions).toBeGreaterThan(50);
    expect(r.json.first_page.products).toBeGreaterThanOrEqual(2);
    expect(r.json.stripe_requests).toBe(3);
  });

  it.each([
    ["storm429", 503, "stripe_rate_limited"],
    ["error500", 502, "stripe_error"],
    ["garbage", 502, "stripe_bad_response"],
    ["hang", 504, "stripe_timeout"],
    ["slowbody", 504, "stripe_timeout"],
    ["huge", 502, "stripe_bad_response"],
  ])("a Stripe that answers %s gives %i %s, stores nothing and leaks nothing", async (mode, status, code) => {
    const fake = await fakeStripe(mode);
    const fw = await startWorker({ STRIPE_API_BASE: fake.base, ...FAST });
    try {
      const fo = await newOrg(fw);
      const tk = (await newKey(fw, fo.key, { environment: "test" })).key;
      const p = await newProject(fw, tk);
      const before = (await fw.get(`/v1/projects/${p.id}/audit`, { key: tk })).json.data.length;
      const key = secret("sk_test_");
      const r = await fw.put(`/v1/projects/${p.id}/integrations/stripe`, { api_key: key }, { key: tk });
      expect(errorOf(r)).toMatchObject({ status, code });
      expect(r.text).not.toContain(key);
      if (mode === "storm429") expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
      // Retried, then gave up; bad bodies (garbage, over the size cap) are not retried.
      expect(fake.hits.length).toBe(mode === "garbage" || mode === "huge" ? 1 : 3);
      expect((await fw.get(`/v1/projects/${p.id}/integrations`, { key: tk })).json.stripe).toBeNull();
      expect((await fw.get(`/v1/projects/${p.id}/audit`, { key: tk })).json.data.length).toBe(before);
      expect(fw.logs.join("")).not.toContain(key);
    } finally {
      await fw.dispose();
      await fake.close();
    }
  });

  it("an unreachable Stripe gives 502 stripe_unreachable", async () => {
    const fw = await startWorker({ STRIPE_API_BASE: `http://127.0.0.1:${await closedPort()}`, ...FAST });
    try {
      const fo = await newOrg(fw);
      const tk = (await newKey(fw, fo.key, { environment: "test" })).key;
      const p = await newProject(fw, tk);
      const r = await fw.put(`/v1/projects/${p.id}/integrations/stripe`, { api_key: secret("sk_test_") }, { key: tk });
      expect(errorOf(r)).toMatchObject({ status: 502, code: "stripe_unreachable" });
    } finally {
      await fw.dispose();
    }
  });
});

describe("the database connector from the worker", () => {
  const withPassword = (url, pw) => url.replace(/:([^:@/]+)@/, `:${pw}@`);
  const testDb = async (key, pid) => (await w.post(`/v1/projects/${pid}/integrations/database/test`, undefined, { key })).json;

  it("a live project refuses sslmode=disable with a 400 naming the field; a test project may use it", async () => {
    const lp = await newProject(w, o.key);
    for (const [body, field] of [
      [{ read_url: env("PR_PG_READER_URL") }, "read_url"],
      [{ read_url: env("PR_PG_TLS_READER_URL"), repair_url: env("PR_PG_WRITER_URL") }, "repair_url"],
    ]) {
      const r = await put(o.key, lp.id, "database", body);
      expect(errorOf(r)).toMatchObject({ status: 400, code: "invalid_field" });
      expect(r.json.error.field).toBe(field);
      expect(r.json.error.message).toMatch(/TLS only: remove sslmode=disable/);
    }
    expect((await integrations(o.key, lp.id)).database).toBeNull();
    const tp = await newProject(w, testKey);
    expect((await put(testKey, tp.id, "database", { read_url: env("PR_PG_READER_URL") })).status).toBe(200);
    expect(await testDb(testKey, tp.id)).toMatchObject({ ok: true, read_only_enforced: true });
  });

  it("sslmode=require runs over TLS the runtime verified; a server without TLS or with a certificate it refuses gets its own code", async () => {
    const cases = [
      [env("PR_PG_TLS_READER_URL"), null],
      [env("PR_PG_NOTLS_URL"), "database_tls_unsupported"],
      [env("PR_PG_SELFSIGNED_URL"), "database_tls_untrusted"],
      [env("PR_PG_TLS_MISMATCH_URL"), "database_tls_untrusted"], // a host the certificate does not name
    ];
    for (const [url, code] of cases) {
      const p = await newProject(w, o.key);
      expect((await put(o.key, p.id, "database", { read_url: url })).status).toBe(200);
      const r = await testDb(o.key, p.id);
      if (code === null) expect(r, url).toMatchObject({ ok: true, read_only_enforced: true });
      else expect(r, code).toMatchObject({ ok: false, error: { code, message: expect.stringMatching(/TLS/) } });
    }
    const untrusting = await startWorker(FAST, { trustTestCa: false });
    try {
      const uo = await newOrg(untrusting);
      const p = await newProject(untrusting, uo.key);
      await untrusting.put(`/v1/projects/${p.id}/integrations/database`, { read_url: env("PR_PG_TLS_READER_URL") }, { key: uo.key });
      const r = await untrusting.post(`/v1/projects/${p.id}/integrations/database/test`, undefined, { key: uo.key });
      expect(r.json).toMatchObject({ ok: false, error: { code: "database_tls_untrusted", message: expect.stringMatching(/certificate/) } });
    } finally {
      await untrusting.dispose();
    }
  });

  it("a server that takes the query and never answers is a database_timeout within the statement limit", async () => {
    const sw = await startWorker({ ...FAST, DB_STATEMENT_TIMEOUT_MS: "400" });
    // Forwards everything until the probe's query has reached the server, then nothing back.
    const proxy = await stallingProxy(Number(env("PR_PG_PORT")), "has_table_privilege");
    try {
      const so = await newOrg(sw);
      const tk = (await newKey(sw, so.key, { environment: "test" })).key;
      const p = await newProject(sw, tk);
      const url = env("PR_PG_READER_URL").replace(/@127\.0\.0\.1:\d+\//, `@127.0.0.1:${proxy.port}/`);
      await sw.put(`/v1/projects/${p.id}/integrations/database`, { read_url: url }, { key: tk });
      const started = Date.now();
      const r = await sw.post(`/v1/projects/${p.id}/integrations/database/test`, undefined, { key: tk });
      expect(r.json).toMatchObject({ ok: false, error: { code: "database_timeout", sqlstate: null } });
      expect(proxy.stalled()).toBe(true);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await proxy.close();
      await sw.dispose();
    }
  });

  it("stores the URLs sealed and shows host, port, database and user only", async () => {
    const p = await newProject(w, o.key);
    const r = await put(o.key, p.id, "database", { read_url: env("PR_PG_TLS_READER_URL"), repair_url: env("PR_PG_TLS_WRITER_URL") });
    expect(r.status, r.text).toBe(200);
    const port = Number(env("PR_PG_PORT"));
    expect(r.json.read).toEqual({ host: "127.0.0.1", port, database: "app", user: "pr_reader", sslmode: "require" });
    expect(r.json.repair).toMatchObject({ user: "pr_writer" });
    expect((await integrations(o.key, p.id)).database).toMatchObject({ read: { user: "pr_reader" }, repair: { user: "pr_writer" } });
  });

  it("the connection test reports a read-only session and flags a role that can write", async () => {
    for (const [url, canWrite] of [[env("PR_PG_TLS_READER_URL"), false], [env("PR_PG_TLS_WRITER_URL"), true]]) {
      const p = await newProject(w, o.key);
      await put(o.key, p.id, "database", { read_url: url });
      const r = await w.post(`/v1/projects/${p.id}/integrations/database/test`, undefined, { key: o.key });
      expect(r.status, r.text).toBe(200);
      expect(r.json).toMatchObject({ ok: true, read_only_enforced: true, role_can_write: canWrite });
      expect(r.json.latency_ms).toBeGreaterThanOrEqual(0);
    }
  });

  it("a wrong password, a refused connection and a hung server each give a clear code and no secret", async () => {
    const hung = await silentTcp();
    try {
      const badPw = "wrong" + randomBytes(8).toString("hex");
      const cases = [
        [withPassword(env("PR_PG_TLS_READER_URL"), badPw), "database_auth_failed"],
        [`postgres://pr_reader:${badPw}@127.0.0.1:${await closedPort()}/app`, "database_unreachable"],
        [`postgres://pr_reader:${badPw}@127.0.0.1:${hung.port}/app`, "database_timeout"],
      ];
      for (const [url, code] of cases) {
        const p = await newProject(w, o.key);
        await put(o.key, p.id, "database", { read_url: url });
        const r = await w.post(`/v1/projects/${p.id}/integrations/database/test`, undefined, { key: o.key });
        expect(r.status).toBe(200);
        expect(r.json, code).toMatchObject({ ok: false, read_only_enforced: false, error: { code } });
        expect(r.text).not.toContain(badPw);
      }
      expect(w.logs.join("")).not.toContain(badPw);
    } finally {
      await hung.close();
    }
  });

  it("a test without a configured database is a 409", async () => {
    const p = await newProject(w, o.key);
    expect(errorOf(await w.post(`/v1/projects/${p.id}/integrations/database/test`, undefined, { key: o.key }))).toMatchObject({
      status: 409,
      code: "integration_missing",
    });
  });

  it("bad URLs are refused naming the field, without echoing the URL", async () => {
    const p = await newProject(w, o.key);
    const pw = "pw" + randomBytes(6).toString("hex");
    for (const [body, field] of [
      [{ read_url: `mysql://u:${pw}@h/db` }, "read_url"],
      [{ read_url: env("PR_PG_TLS_READER_URL"), repair_url: `postgres://u:${pw}@h/db?options=-c` }, "repair_url"],
      [{ read_url: `postgres://u:${pw}@h/db`, extra: 1 }, "body"], // unknown names are not echoed
    ]) {
      const r = await put(o.key, p.id, "database", body);
      expect(errorOf(r)).toMatchObject({ status: 400 });
      expect(r.json.error.field).toBe(field);
      expect(r.text).not.toContain(pw);
    }
  });
});

describe("secrets stay secret", () => {
  it("no secret byte appears in any response, log line, or D1 column but the sealed blob", async () => {
    const p = await newProject(w, testKey);
    const stripeKey = secret("sk_test_");
    const whsecs = [secret("whsec_"), secret("whsec_")];
    expect((await put(testKey, p.id, "stripe", { api_key: stripeKey, webhook_secrets: whsecs })).status).toBe(200);
    const lp = await newProject(w, o.key);
    const pw = randomBytes(12).toString("hex");
    const url = withPw(env("PR_PG_TLS_READER_URL"), pw);
    expect((await put(o.key, lp.id, "database", { read_url: url, repair_url: withPw(env("PR_PG_TLS_WRITER_URL"), pw) })).status).toBe(200);
    // Error paths carrying the same secrets: a live project refusing a test key, a bad URL.
    expect((await put(o.key, lp.id, "stripe", { api_key: stripeKey, webhook_secrets: whsecs })).status).toBe(400);
    expect((await put(o.key, lp.id, "database", { read_url: url + "&options=x" })).status).toBe(400);
    expect((await put(o.key, lp.id, "database", { read_url: url.replace("postgres://", "mysql://") })).status).toBe(400);
    await w.get(`/v1/projects/${p.id}/integrations`, { key: testKey });
    await w.get(`/v1/projects/${lp.id}/integrations`, { key: o.key });
    await w.post(`/v1/projects/${lp.id}/integrations/database/test`, undefined, { key: o.key });
    await w.get(`/v1/projects/${lp.id}/audit`, { key: o.key });
    await w.get(`/v1/projects/${p.id}/audit`, { key: testKey });
    await new Promise((r) => setTimeout(r, 100));

    const needles = [stripeKey, stripeKey.slice(8), ...whsecs, ...whsecs.map((s) => s.slice(6)), pw];
    const haystacks = {
      responses: w.seen.join("\n"),
      logs: w.logs.join(""),
      d1: await w.dumpD1({ credentials: ["sealed"] }),
    };
    for (const [where, text] of Object.entries(haystacks)) {
      for (const n of needles) expect(text.includes(n), `${where} contains a secret`).toBe(false);
    }
    const sealed = (await (await w.d1()).prepare("SELECT sealed FROM credentials").all()).results.map((r) => r.sealed).join("");
    expect(sealed.length).toBeGreaterThan(0);
    for (const n of needles) expect(sealed.includes(n)).toBe(false);
    const decoded = Buffer.from(sealed, "base64").toString("latin1");
    for (const n of needles) expect(decoded.includes(n)).toBe(false);
  });

  function withPw(url, pw) {
    return url.replace(/:([^:@/]+)@/, `:${pw}@`);
  }

  it("integration changes are audited with non-secret views only", async () => {
    const p = await newProject(w, o.key);
    await put(o.key, p.id, "database", { read_url: env("PR_PG_TLS_READER_URL") });
    await put(o.key, p.id, "database", { read_url: env("PR_PG_TLS_WRITER_URL") });
    const entries = (await w.get(`/v1/projects/${p.id}/audit`, { key: o.key })).json.data;
    const changes = entries.filter((e) => e.action === "integration.database.updated");
    expect(changes.length).toBe(2);
    expect(changes[0].before).toBeNull();
    expect(changes[1].before.read.user).toBe("pr_reader");
    expect(changes[1].after.read.user).toBe("pr_writer");
    expect((await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key })).json.ok).toBe(true);
  });

  it("a sealed credential copied to another project does not open", async () => {
    const a = await newProject(w, o.key);
    const b = await newProject(w, o.key);
    await put(o.key, a.id, "database", { read_url: env("PR_PG_TLS_READER_URL") });
    await put(o.key, b.id, "database", { read_url: env("PR_PG_TLS_READER_URL") });
    const db = await w.d1();
    const sa = await db.prepare("SELECT sealed FROM credentials WHERE project_id = ? AND kind = 'db_read_url'").bind(a.id).first();
    await db.prepare("UPDATE credentials SET sealed = ? WHERE project_id = ? AND kind = 'db_read_url'").bind(sa.sealed, b.id).run();
    const r = await w.post(`/v1/projects/${b.id}/integrations/database/test`, undefined, { key: o.key });
    expect(errorOf(r)).toMatchObject({ status: 500, code: "internal_error" });
    expect((await w.post(`/v1/projects/${a.id}/integrations/database/test`, undefined, { key: o.key })).json.ok).toBe(true);
  });
});

describe("key rotation of the vault", () => {
  it("each cron run continues the re-wrap where the last one stopped", async () => {
    const k1 = "k1:" + randomBytes(32).toString("base64");
    const k2 = "k2:" + randomBytes(32).toString("base64");
    const budget = { REWRAP_VISITS_PER_RUN: "1", REWRAP_PAGE_SIZE: "1", ...FAST };
    let rw = await startWorker({ CREDENTIALS_ENCRYPTION_KEY: k1, ...budget });
    try {
      const ro = await newOrg(rw);
      for (let i = 0; i < 3; i++) {
        const p = await newProject(rw, ro.key);
        expect((await rw.put(`/v1/projects/${p.id}/integrations/database`, { read_url: "postgres://u:p@db.example.com/app" }, { key: ro.key })).status).toBe(200);
      }
      const db = await rw.d1();
      const ids = (await db.prepare("SELECT id FROM credentials ORDER BY id").all()).results.map((r) => r.id);
      await db.prepare("UPDATE credentials SET sealed = 'AQJrMQ' WHERE id = ?").bind(ids[0]).run();
      const state = rw.state;
      await rw.dispose();
      rw = await startWorker({ CREDENTIALS_ENCRYPTION_KEY: `${k2},${k1}`, ...budget }, { reuseState: state });
      const keyIds = async () => (await (await rw.d1()).prepare("SELECT key_id FROM credentials ORDER BY id").all()).results.map((r) => r.key_id);
      // One credential per run: the damaged first one, then each of the others in turn.
      await rw.scheduled();
      expect(await keyIds()).toEqual(["k1", "k1", "k1"]);
      await rw.scheduled();
      expect(await keyIds()).toEqual(["k1", "k2", "k1"]);
      await rw.scheduled();
      expect(await keyIds()).toEqual(["k1", "k2", "k2"]);
      const pos = await (await rw.d1()).prepare("SELECT cursor FROM job_state WHERE job = 'rewrap'").first();
      expect(pos.cursor).toBe(`${ro.org.id}|${ids[2]}`);
    } finally {
      await rw.dispose();
    }
  });

  it("a legacy v1 blob still opens, and the cron upgrades it to v2 under the same key", async () => {
    const raw = randomBytes(32);
    const k1 = "k1:" + raw.toString("base64");
    let rw = await startWorker({ CREDENTIALS_ENCRYPTION_KEY: k1, ...FAST });
    try {
      const ro = await newOrg(rw);
      const p = await newProject(rw, ro.key);
      const url = env("PR_PG_TLS_READER_URL");
      expect((await rw.put(`/v1/projects/${p.id}/integrations/database`, { read_url: url }, { key: ro.key })).status).toBe(200);
      const db = await rw.d1();
      const row = await db.prepare("SELECT id, kind, format FROM credentials WHERE project_id = ?").bind(p.id).first();
      expect(row.format).toBe(2);
      // Seal the same URL in the legacy v1 format, independently: 0x01 ‖ len ‖ kid ‖ nonce ‖ ct ‖ tag,
      // AAD = org|project|kind|id only (the header is not authenticated in v1).
      const nonce = randomBytes(12);
      const c = createCipheriv("aes-256-gcm", raw, nonce);
      c.setAAD(Buffer.from(`${ro.org.id}|${p.id}|${row.kind}|${row.id}`));
      const ct = Buffer.concat([c.update(url, "utf8"), c.final()]);
      const v1 = Buffer.concat([Buffer.from([1, 2]), Buffer.from("k1"), nonce, ct, c.getAuthTag()]).toString("base64");
      await db.prepare("UPDATE credentials SET sealed = ?, format = 1 WHERE id = ?").bind(v1, row.id).run();
      expect((await rw.post(`/v1/projects/${p.id}/integrations/database/test`, undefined, { key: ro.key })).json).toMatchObject({ ok: true });
      await rw.scheduled();
      const after = await db.prepare("SELECT key_id, format, sealed FROM credentials WHERE id = ?").bind(row.id).first();
      expect(after).toMatchObject({ key_id: "k1", format: 2 });
      expect(Buffer.from(after.sealed, "base64")[0]).toBe(2);
      const entries = (await rw.get(`/v1/projects/${p.id}/audit`, { key: ro.key })).json.data;
      expect(entries.find((e) => e.action === "credential.rewrapped")).toMatchObject({
        actor: "system:cron",
        before: { key_id: "k1", format: 1 },
        after: { key_id: "k1", format: 2 },
      });
      expect((await rw.post(`/v1/projects/${p.id}/integrations/database/test`, undefined, { key: ro.key })).json).toMatchObject({ ok: true });
    } finally {
      await rw.dispose();
    }
  });

  it("a credential that cannot be re-wrapped does not block the ones after it", async () => {
    const k1 = "k1:" + randomBytes(32).toString("base64");
    const k2 = "k2:" + randomBytes(32).toString("base64");
    let rw = await startWorker({ CREDENTIALS_ENCRYPTION_KEY: k1, REWRAP_PAGE_SIZE: "1", ...FAST });
    try {
      const ro = await newOrg(rw);
      for (let i = 0; i < 3; i++) {
        const p = await newProject(rw, ro.key);
        const r = await rw.put(`/v1/projects/${p.id}/integrations/database`, { read_url: "postgres://u:p@db.example.com/app" }, { key: ro.key });
        expect(r.status).toBe(200);
      }
      const db = await rw.d1();
      const ids = (await db.prepare("SELECT id FROM credentials ORDER BY id").all()).results.map((r) => r.id);
      // The first credential in walk order is damaged for good.
      await db.prepare("UPDATE credentials SET sealed = 'AQJrMQ' WHERE id = ?").bind(ids[0]).run();
      const state = rw.state;
      await rw.dispose();
      rw = await startWorker({ CREDENTIALS_ENCRYPTION_KEY: `${k2},${k1}`, REWRAP_PAGE_SIZE: "1", ...FAST }, { reuseState: state });
      await rw.scheduled();
      const rows = (await (await rw.d1()).prepare("SELECT id, key_id FROM credentials ORDER BY id").all()).results;
      expect(rows.map((r) => r.key_id)).toEqual(["k1", "k2", "k2"]);
      expect(rw.logs.join("")).toContain(ids[0]);
    } finally {
      await rw.dispose();
    }
  });

  it("the cron re-wraps credentials under the new key, audited, and the old key can then go", async () => {
    const k1 = "k1:" + randomBytes(32).toString("base64");
    const k2 = "k2:" + randomBytes(32).toString("base64");
    let rw = await startWorker({ CREDENTIALS_ENCRYPTION_KEY: k1, ...FAST });
    try {
      const ro = await newOrg(rw);
      const p = await newProject(rw, ro.key);
      await rw.put(`/v1/projects/${p.id}/integrations/database`, { read_url: env("PR_PG_TLS_READER_URL"), repair_url: env("PR_PG_TLS_WRITER_URL") }, { key: ro.key });
      const keyIds = async () => (await (await rw.d1()).prepare("SELECT key_id FROM credentials").all()).results.map((r) => r.key_id);
      expect(await keyIds()).toEqual(["k1", "k1"]);

      const state = rw.state;
      await rw.dispose();
      rw = await startWorker({ CREDENTIALS_ENCRYPTION_KEY: `${k2},${k1}`, ...FAST }, { reuseState: state });
      await rw.scheduled();
      expect(await keyIds()).toEqual(["k2", "k2"]);
      const entries = (await rw.get(`/v1/projects/${p.id}/audit`, { key: ro.key })).json.data;
      const rewraps = entries.filter((e) => e.action === "credential.rewrapped");
      expect(rewraps.length).toBe(2);
      expect(rewraps[0]).toMatchObject({ actor: "system:cron", before: { key_id: "k1" }, after: { key_id: "k2" } });
      expect((await rw.get(`/v1/projects/${p.id}/audit/verify`, { key: ro.key })).json.ok).toBe(true);
      await rw.scheduled(); // nothing left to do: no new entries
      expect((await rw.get(`/v1/projects/${p.id}/audit`, { key: ro.key })).json.data.length).toBe(entries.length);

      await rw.dispose();
      rw = await startWorker({ CREDENTIALS_ENCRYPTION_KEY: k2, ...FAST }, { reuseState: state });
      const t = await rw.post(`/v1/projects/${p.id}/integrations/database/test`, undefined, { key: ro.key });
      expect(t.json).toMatchObject({ ok: true });
    } finally {
      await rw.dispose();
    }
  });
});
