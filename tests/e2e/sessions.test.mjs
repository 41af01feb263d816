// Dashboard sessions (issue 21, SPEC §11): sign-in by API key and by e-mailed link, the
// `__Host-` cookie, CSRF and Origin on every change, step-up, expiry, revocation and sign-out.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshIp, startWorker } from "./harness.mjs";
import { addMember, errorOf, newKey, newOrg, newProject } from "./fixtures.mjs";
import { linkTokens, startMailbox } from "./mailbox.mjs";

const ORIGIN = "http://localhost"; // the harness's requests go to http://localhost
let w;
let box;
let org;

beforeAll(async () => {
  box = await startMailbox();
  w = await startWorker({ RESEND_API_KEY: "re_test_key", RESEND_API_BASE: box.base, STEP_UP_PER_MINUTE: "2" });
  org = await newOrg(w);
});
afterAll(async () => {
  await w?.dispose();
  await box?.close();
});

function cookieOf(r) {
  const set = r.headers.get("set-cookie") ?? "";
  const m = set.match(/__Host-pr_session=([^;]*)/);
  return m ? `__Host-pr_session=${m[1]}` : undefined;
}

/** A request as the dashboard's script sends it: the cookie, and on a change the CSRF token and
 * the site's Origin (each can be left out or replaced). */
function asBrowser(method, path, s, { body, csrf = s?.csrf, origin = ORIGIN, ip } = {}) {
  const headers = {};
  if (s?.cookie) headers.cookie = s.cookie;
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  if (origin) headers.origin = origin;
  return w.request(method, path, { body: method === "GET" ? undefined : body ?? {}, headers, ip });
}

async function signInWithKey(key) {
  const r = await w.post("/v1/sessions", { api_key: key }, { headers: { origin: ORIGIN } });
  expect(r.status, r.text).toBe(201);
  return { cookie: cookieOf(r), csrf: r.json.session.csrf_token, session: r.json.session, raw: r };
}

function nonceOf(r) {
  const m = (r.headers.get("set-cookie") ?? "").match(/__Host-pr_signin=([^;]*)/);
  return m ? `__Host-pr_signin=${m[1]}` : undefined;
}

/** Asks for a link as a browser does; `{token, nonce}` (the cookie that binds it to that browser). */
async function askLink(email, environment, ip) {
  const before = box.to(email).length;
  const r = await w.post("/v1/sessions/email", { email, ...(environment ? { environment } : {}) }, { headers: { origin: ORIGIN }, ip });
  expect(r.status, r.text).toBe(202);
  const [token] = linkTokens(await box.waitFor(email, before + 1));
  return { token, nonce: nonceOf(r), raw: r };
}

async function signInByEmail(email, environment) {
  const { token, nonce } = await askLink(email, environment);
  const c = await w.post("/v1/sessions/email/confirm", { token }, { headers: { origin: ORIGIN, cookie: nonce } });
  expect(c.status, c.text).toBe(201);
  return { cookie: cookieOf(c), csrf: c.json.session.csrf_token, session: c.json.session, token };
}

async function stepUp(s, email) {
  const before = box.to(email).length;
  const r = await asBrowser("POST", "/v1/session/step-up", s);
  expect(r.status, r.text).toBe(202);
  const [token] = linkTokens(await box.waitFor(email, before + 1));
  return token;
}

describe("sign-in with an API key", () => {
  it("sets a __Host- cookie (HttpOnly, Secure, SameSite=Strict, Path=/) stored only as a hash, and acts as that key", async () => {
    const s = await signInWithKey(org.key);
    const set = s.raw.headers.get("set-cookie");
    expect(set).toMatch(/^__Host-pr_session=[0-9A-Za-z]{43}; /);
    for (const attr of ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"]) expect(set).toContain(attr);
    expect(set).not.toMatch(/Domain=/i);
    expect(s.session).toMatchObject({ via: "key", role: "owner", capability: "repair", environment: "live", project_id: null });
    expect(s.session.org.id).toBe(org.org.id);
    expect(s.raw.text).not.toContain(org.key);
    expect(s.raw.text).not.toContain(s.cookie.split("=")[1]);
    const me = await asBrowser("GET", "/v1/session", s);
    expect(me.status, me.text).toBe(200);
    expect(me.json.session.id).toBe(s.session.id);
    expect(me.json.session.csrf_token).toBe(s.csrf);
    expect((await asBrowser("GET", "/v1/org", s)).json.id).toBe(org.org.id);
    const token = s.cookie.split("=")[1];
    const db = await w.d1();
    const row = await db.prepare("SELECT * FROM sessions WHERE id = ?").bind(s.session.id).first();
    expect(row.token_hash).toBe(createHash("sha256").update(token).digest("hex"));
    const dump = await w.dumpD1();
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(s.csrf);
    const chain = await w.get("/v1/org/audit?limit=100", { key: org.key });
    expect(chain.json.data.some((e) => e.action === "session.created" && e.target === `session:${s.session.id}`)).toBe(true);
  });

  it("a project-scoped read key's session has exactly that key's scope, environment and capability", async () => {
    const p = await newProject(w, org.key);
    const other = await newProject(w, org.key);
    const k = await newKey(w, org.key, { capability: "read", project_id: p.id });
    const s = await signInWithKey(k.key);
    expect(s.session).toMatchObject({ capability: "read", project_id: p.id });
    expect((await asBrowser("GET", `/v1/projects/${p.id}`, s)).status).toBe(200);
    expect(errorOf(await asBrowser("GET", `/v1/projects/${other.id}`, s))).toMatchObject({ status: 404, code: "not_found" });
    expect(errorOf(await asBrowser("POST", `/v1/projects/${p.id}/runs`, s))).toMatchObject({ status: 403, code: "read_only_key" });
    expect(errorOf(await asBrowser("POST", "/v1/keys", s, { body: { name: "x", environment: "live", capability: "read" } }))).toMatchObject({ status: 403 });
  });

  it("refuses a bad key, a foreign or missing Origin, and bad bodies", async () => {
    expect(errorOf(await w.post("/v1/sessions", { api_key: "pr_live_nope" }, { headers: { origin: ORIGIN } }))).toMatchObject({ status: 401, code: "invalid_api_key" });
    expect(errorOf(await w.post("/v1/sessions", { api_key: org.key }))).toMatchObject({ status: 403, code: "bad_origin" });
    expect(errorOf(await w.post("/v1/sessions", { api_key: org.key }, { headers: { origin: "https://evil.example" } }))).toMatchObject({ status: 403, code: "bad_origin" });
    expect(errorOf(await w.post("/v1/sessions", { api_key: org.key, role: "owner" }, { headers: { origin: ORIGIN } }))).toMatchObject({ status: 400 });
    expect(errorOf(await w.request("POST", "/v1/sessions", { raw: "{not json", headers: { origin: ORIGIN, "content-type": "application/json" } }))).toMatchObject({ status: 400 });
    const big = JSON.stringify({ api_key: "x".repeat(1_100_000) });
    expect(errorOf(await w.request("POST", "/v1/sessions", { raw: big, headers: { origin: ORIGIN, "content-type": "application/json" } }))).toMatchObject({ status: 413 });
  });
});

describe("a change from a session", () => {
  it("needs the session's CSRF token and the site's own Origin", async () => {
    const s = await signInWithKey(org.key);
    const other = await signInWithKey(org.key);
    const body = { name: "From the dashboard" };
    expect(errorOf(await asBrowser("POST", "/v1/projects", s, { body, csrf: null }))).toMatchObject({ status: 403, code: "csrf_failed" });
    expect(errorOf(await asBrowser("POST", "/v1/projects", s, { body, csrf: other.csrf }))).toMatchObject({ status: 403, code: "csrf_failed" });
    expect(errorOf(await asBrowser("POST", "/v1/projects", s, { body, origin: "https://evil.example" }))).toMatchObject({ status: 403, code: "csrf_failed" });
    expect(errorOf(await asBrowser("POST", "/v1/projects", s, { body, origin: null }))).toMatchObject({ status: 403, code: "csrf_failed" });
    expect(errorOf(await asBrowser("DELETE", "/v1/session", s, { csrf: null }))).toMatchObject({ status: 403, code: "csrf_failed" });
    const names = (await w.get("/v1/projects?limit=100", { key: org.key })).json.data.map((p) => p.name);
    expect(names).not.toContain("From the dashboard");
    const ok = await asBrowser("POST", "/v1/projects", s, { body });
    expect(ok.status, ok.text).toBe(201);
    // A read needs no token.
    expect((await asBrowser("GET", "/v1/projects", s, { csrf: null, origin: null })).status).toBe(200);
  });

  it("a cookie that opens no session, a forged one, or two of them are refused", async () => {
    const forged = { cookie: `__Host-pr_session=${"A".repeat(43)}` };
    expect(errorOf(await asBrowser("GET", "/v1/org", forged))).toMatchObject({ status: 401, code: "session_expired" });
    expect(errorOf(await asBrowser("GET", "/v1/session", { cookie: "__Host-pr_session=<script>" }))).toMatchObject({ status: 401, code: "session_expired" });
    const s = await signInWithKey(org.key);
    expect(errorOf(await asBrowser("GET", "/v1/org", { cookie: `${s.cookie}; ${s.cookie}` }))).toMatchObject({ status: 401 });
    // No cookie: no session (a read says so; a change is refused). An API key is no session.
    expect(await w.get("/v1/session")).toMatchObject({ status: 200, json: { session: null } });
    expect(await w.get("/v1/session", { key: org.key })).toMatchObject({ status: 200, json: { session: null } });
    expect(errorOf(await w.delete("/v1/session"))).toMatchObject({ status: 401, code: "missing_session" });
    expect(errorOf(await w.post("/v1/session/step-up", {}, { key: org.key }))).toMatchObject({ status: 401, code: "missing_session" });
  });
});

describe("a session ends", () => {
  it("on the next request after its key is revoked", async () => {
    const k = await newKey(w, org.key);
    const s = await signInWithKey(k.key);
    expect((await asBrowser("GET", "/v1/org", s)).status).toBe(200);
    expect((await w.delete(`/v1/keys/${k.id}`, { key: org.key })).status).toBe(200);
    expect(errorOf(await asBrowser("GET", "/v1/org", s))).toMatchObject({ status: 401, code: "session_expired" });
    expect(errorOf(await asBrowser("GET", "/v1/session", s))).toMatchObject({ status: 401, code: "session_expired" });
  });

  it("after 30 idle minutes, and 12 hours after sign-in however busy", async () => {
    const db = await w.d1();
    const idle = await signInWithKey(org.key);
    const old = (ms) => new Date(Date.now() - ms).toISOString();
    await db.prepare("UPDATE sessions SET last_seen_at = ? WHERE id = ?").bind(old(31 * 60_000), idle.session.id).run();
    expect(errorOf(await asBrowser("GET", "/v1/org", idle))).toMatchObject({ status: 401, code: "session_expired" });
    const busy = await signInWithKey(org.key);
    await db.prepare("UPDATE sessions SET created_at = ?, last_seen_at = ? WHERE id = ?").bind(old(12 * 3600_000 + 1000), old(1000), busy.session.id).run();
    expect(errorOf(await asBrowser("GET", "/v1/org", busy))).toMatchObject({ status: 401, code: "session_expired" });
    const fresh = await signInWithKey(org.key);
    expect((await asBrowser("GET", "/v1/org", fresh)).status).toBe(200);
  });

  it("at sign-out: the cookie is cleared and the session never opens again", async () => {
    const s = await signInWithKey(org.key);
    const r = await asBrowser("DELETE", "/v1/session", s);
    expect(r.status, r.text).toBe(204);
    expect(r.headers.get("set-cookie")).toMatch(/^__Host-pr_session=; .*Max-Age=0/);
    expect(errorOf(await asBrowser("GET", "/v1/org", s))).toMatchObject({ status: 401, code: "session_expired" });
    // The API key it signed in with still works.
    expect((await w.get("/v1/org", { key: org.key })).status).toBe(200);
  });
});

describe("sign-in by e-mail", () => {
  it("mails a one-time link (stored only as a hash); the session acts as the member's role with read capability", async () => {
    const m = await addMember(w, org.key, "admin");
    const s = await signInByEmail(m.email);
    expect(box.to(m.email)[0].authorization).toBe("Bearer re_test_key");
    expect(box.to(m.email)[0].body.text).toContain(org.org.name);
    expect(s.session).toMatchObject({ via: "email", role: "admin", capability: "read", email: m.email, member_id: m.id, step_up_until: null });
    const dump = await w.dumpD1();
    expect(dump).not.toContain(s.token);
    const db = await w.d1();
    const link = await db.prepare("SELECT * FROM login_links WHERE token_hash = ?").bind(createHash("sha256").update(s.token).digest("hex")).first();
    expect(link).toMatchObject({ member_id: m.id, purpose: "sign_in" });
    expect(Date.parse(link.expires_at) - Date.parse(link.created_at)).toBe(10 * 60_000);
    // Single use.
    expect(errorOf(await w.post("/v1/sessions/email/confirm", { token: s.token }, { headers: { origin: ORIGIN } }))).toMatchObject({ status: 401, code: "invalid_link" });
    // The key it acts with is nobody's: not listed, not revocable or rotatable through the keys API.
    const keys = (await w.get("/v1/keys?limit=100", { key: org.key })).json.data;
    const minted = (await db.prepare("SELECT key_id FROM sessions WHERE id = ?").bind(s.session.id).first()).key_id;
    expect(keys.map((k) => k.id)).not.toContain(minted);
    expect(errorOf(await w.delete(`/v1/keys/${minted}`, { key: org.key }))).toMatchObject({ status: 404 });
  });

  it("answers the same for an unknown address, and sends nothing", async () => {
    const before = box.mails.length;
    const r = await w.post("/v1/sessions/email", { email: "nobody-here@example.com" }, { headers: { origin: ORIGIN } });
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ sent: true });
    await new Promise((res) => setTimeout(res, 300));
    expect(box.mails.length).toBe(before);
  });

  it("works only in the browser that asked: elsewhere (another browser, a mail scanner) it opens nothing and is not spent", async () => {
    const m = await addMember(w, org.key, "admin");
    const { token, nonce, raw } = await askLink(m.email);
    const set = raw.headers.get("set-cookie");
    for (const attr of ["Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=600"]) expect(set).toContain(attr);
    const other = await askLink(m.email);
    for (const cookie of [undefined, other.nonce]) {
      const r = await w.post("/v1/sessions/email/confirm", { token }, { headers: { origin: ORIGIN, ...(cookie ? { cookie } : {}) } });
      expect(errorOf(r)).toMatchObject({ status: 401, code: "invalid_link" });
    }
    const ok = await w.post("/v1/sessions/email/confirm", { token }, { headers: { origin: ORIGIN, cookie: nonce } });
    expect(ok.status, ok.text).toBe(201);
  });

  it("mails one address at most twice a minute per client, and answers the same when it does not; another client still gets its mail", async () => {
    const m = await addMember(w, org.key, "member");
    const ip = freshIp();
    const ask = (from) => w.post("/v1/sessions/email", { email: m.email }, { headers: { origin: ORIGIN }, ip: from });
    const answers = [await ask(ip), await ask(ip), await ask(ip)];
    expect(answers.map((r) => r.status)).toEqual([202, 202, 202]);
    await box.waitFor(m.email, 2);
    await new Promise((res) => setTimeout(res, 500));
    expect(box.to(m.email).length).toBe(2);
    // The member, elsewhere, is not locked out by that client.
    expect((await ask(freshIp())).status).toBe(202);
    await box.waitFor(m.email, 3);
  });

  it("refuses an expired, unknown or malformed link", async () => {
    const m = await addMember(w, org.key, "member");
    const { token, nonce } = await askLink(m.email);
    const db = await w.d1();
    await db.prepare("UPDATE login_links SET expires_at = ? WHERE token_hash = ?").bind(new Date(Date.now() - 1000).toISOString(), createHash("sha256").update(token).digest("hex")).run();
    for (const t of [token, "A".repeat(43), "<script>", ""]) {
      expect(errorOf(await w.post("/v1/sessions/email/confirm", { token: t }, { headers: { origin: ORIGIN, cookie: nonce } }))).toMatchObject({ status: 401, code: "invalid_link" });
    }
  });

  it("a change asks for a step-up; the confirmed link (same session only, audited) allows changes for 10 minutes", async () => {
    const m = await addMember(w, org.key, "admin");
    const s = await signInByEmail(m.email);
    const body = { name: "after step-up" };
    expect(errorOf(await asBrowser("POST", "/v1/projects", s, { body }))).toMatchObject({ status: 403, code: "step_up_required" });
    const token = await stepUp(s, m.email);
    // Another session of the same member (or no session) cannot use it, nor spend it.
    const other = await signInByEmail(m.email);
    for (const cookie of [other.cookie, undefined]) {
      const stolen = await w.post("/v1/sessions/email/confirm", { token }, { headers: { origin: ORIGIN, ...(cookie ? { cookie } : {}) } });
      expect(errorOf(stolen)).toMatchObject({ status: 401, code: "invalid_link" });
    }
    // A HEAD to the session route is no step-up (no e-mail, whatever its Origin).
    const mails = box.to(m.email).length;
    const head = await w.request("HEAD", "/v1/session", { headers: { cookie: s.cookie, origin: "https://evil.example" } });
    expect(head.status).not.toBe(202);
    // This worker allows two step-up e-mails a minute per session (`STEP_UP_PER_MINUTE`); a
    // third is refused.
    await stepUp(s, m.email);
    expect(box.to(m.email).length).toBe(mails + 1);
    expect(box.to(m.email).every((x) => !x.body.text.includes("evil.example"))).toBe(true);
    expect(errorOf(await asBrowser("POST", "/v1/session/step-up", s))).toMatchObject({ status: 429 });
    const c = await w.post("/v1/sessions/email/confirm", { token }, { headers: { origin: ORIGIN, cookie: s.cookie } });
    expect(c.status, c.text).toBe(200);
    expect(c.headers.get("set-cookie")).toBeNull();
    expect(c.json.session.capability).toBe("repair");
    const until = Date.parse(c.json.session.step_up_until);
    expect(until - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(until - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    const ok = await asBrowser("POST", "/v1/projects", s, { body });
    expect(ok.status, ok.text).toBe(201);
    const chain = (await w.get("/v1/org/audit?limit=100", { key: org.key })).json.data;
    const up = chain.find((e) => e.action === "session.stepped_up" && e.target === `session:${s.session.id}`);
    expect(up, JSON.stringify(chain.map((e) => e.action))).toBeTruthy();
    expect(up.actor).toContain(m.id);
    const created = (await w.get(`/v1/projects/${ok.json.id}/audit`, { key: org.key })).json.data.find((e) => e.action === "project.created");
    expect(created.actor).toBe(`member:${m.id}/key:${up.after.key_id}`);
    // When it ends, the session is read-only again.
    const db = await w.d1();
    await db.prepare("UPDATE sessions SET step_up_until = ? WHERE id = ?").bind(new Date(Date.now() - 1000).toISOString(), s.session.id).run();
    expect(errorOf(await asBrowser("POST", "/v1/projects", s, { body }))).toMatchObject({ status: 403, code: "step_up_required" });
    expect((await asBrowser("GET", "/v1/session", s)).json.session).toMatchObject({ capability: "read", step_up_until: null });
    // A key session has no step-up.
    const ks = await signInWithKey(org.key);
    expect(errorOf(await asBrowser("POST", "/v1/session/step-up", ks))).toMatchObject({ status: 400, code: "not_email_session" });
  });

  it("a member session dies when its member is removed or demoted", async () => {
    const gone = await addMember(w, org.key, "admin");
    const demoted = await addMember(w, org.key, "admin");
    const a = await signInByEmail(gone.email);
    const b = await signInByEmail(demoted.email);
    expect((await w.delete(`/v1/org/members/${gone.id}`, { key: org.key })).status).toBe(200);
    expect(errorOf(await asBrowser("GET", "/v1/org", a))).toMatchObject({ status: 401 });
    expect((await w.patch(`/v1/org/members/${demoted.id}`, { role: "member" }, { key: org.key })).status).toBe(200);
    expect(errorOf(await asBrowser("GET", "/v1/org", b))).toMatchObject({ status: 401, code: "session_expired" });
  });

  it("an admin ends every session of a member (audited; never one ranked above it, nor another org's member)", async () => {
    const m = await addMember(w, org.key, "admin");
    const a = await signInByEmail(m.email);
    const mk = await newKey(w, org.key, { member_id: m.id });
    const b = await signInWithKey(mk.key);
    const r = await w.delete(`/v1/org/members/${m.id}/sessions`, { key: org.key });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toEqual({ member_id: m.id, ended: 2 });
    expect(errorOf(await asBrowser("GET", "/v1/org", a))).toMatchObject({ status: 401, code: "session_expired" });
    expect(errorOf(await asBrowser("GET", "/v1/org", b))).toMatchObject({ status: 401, code: "session_expired" });
    // The member's own API key was not a session's: it still works.
    expect((await w.get("/v1/org", { key: mk.key })).status).toBe(200);
    const chain = (await w.get("/v1/org/audit?limit=100", { key: org.key })).json.data;
    expect(chain.filter((e) => e.action === "session.ended" && [a, b].some((x) => e.target === `session:${x.session.id}`))).toHaveLength(2);
    // An admin cannot end the owner's sessions; another org's member is not found.
    const adminKey = await newKey(w, org.key, { member_id: m.id });
    expect(errorOf(await w.delete(`/v1/org/members/${org.owner.id}/sessions`, { key: adminKey.key }))).toMatchObject({ status: 403 });
    const other = await newOrg(w);
    expect(errorOf(await w.delete(`/v1/org/members/${other.owner.id}/sessions`, { key: org.key }))).toMatchObject({ status: 404 });
  });

  it("a test-environment session sees no live project", async () => {
    const m = await addMember(w, org.key, "admin");
    const live = await newProject(w, org.key);
    const s = await signInByEmail(m.email, "test");
    expect(s.session.environment).toBe("test");
    expect(errorOf(await asBrowser("GET", `/v1/projects/${live.id}`, s))).toMatchObject({ status: 404 });
  });

  it("another org's session reaches nothing of this org", async () => {
    const other = await newOrg(w);
    const p = await newProject(w, org.key);
    const s = await signInWithKey(other.key);
    expect(errorOf(await asBrowser("GET", `/v1/projects/${p.id}`, s))).toMatchObject({ status: 404, code: "not_found" });
    expect(errorOf(await asBrowser("GET", `/v1/projects/${p.id}/incidents`, s))).toMatchObject({ status: 404, code: "not_found" });
  });
});

describe("without a mail key", () => {
  it("the link goes to the worker's log only with MAIL_LOG=1 (the offline demo), and nothing is sent", async () => {
    const silent = await startWorker();
    try {
      const o = await newOrg(silent);
      const m = (await silent.post("/v1/org/members", { email: "demo-silent@example.com", role: "member" }, { key: o.key })).json;
      expect((await silent.post("/v1/sessions/email", { email: m.email }, { headers: { origin: ORIGIN } })).status).toBe(202);
      let logged = "";
      for (let i = 0; i < 100 && !/not sent: no RESEND_API_KEY/.test(logged); i++) {
        await new Promise((res) => setTimeout(res, 50));
        logged = silent.logs.join("");
      }
      expect(logged).toContain("not sent: no RESEND_API_KEY");
      expect(logged).not.toMatch(/signin\/email#token=/);
    } finally {
      await silent.dispose();
    }
    const quiet = await startWorker({ MAIL_LOG: "1" });
    try {
      const o = await newOrg(quiet);
      const m = (await quiet.post("/v1/org/members", { email: "demo-member@example.com", role: "member" }, { key: o.key })).json;
      const r = await quiet.post("/v1/sessions/email", { email: m.email }, { headers: { origin: ORIGIN } });
      expect(r.status).toBe(202);
      let logged = "";
      for (let i = 0; i < 100 && !/signin\/email#token=/.test(logged); i++) {
        await new Promise((res) => setTimeout(res, 50));
        logged = quiet.logs.join("");
      }
      expect(logged).toMatch(/signin\/email#token=[0-9A-Za-z]{43}/);
      expect(logged).not.toContain(o.key);
    } finally {
      await quiet.dispose();
    }
  });
});

describe("sign-in attempts", () => {
  it("count against the per-IP failure limit (keys, links and mail requests alike)", async () => {
    const lw = await startWorker({ RATE_LIMIT_IP_PER_MINUTE: "4", RESEND_API_KEY: "re_test_key", RESEND_API_BASE: box.base });
    try {
      const ip = freshIp();
      const o = { headers: { origin: ORIGIN }, ip };
      const codes = [];
      codes.push((await lw.post("/v1/sessions", { api_key: "pr_live_bad" }, o)).status);
      codes.push((await lw.post("/v1/sessions/email/confirm", { token: "A".repeat(43) }, o)).status);
      codes.push((await lw.post("/v1/sessions/email", { email: "x@example.com" }, o)).status);
      codes.push((await lw.post("/v1/sessions", { api_key: "pr_live_bad" }, o)).status);
      const fifth = await lw.post("/v1/sessions", { api_key: "pr_live_bad" }, o);
      expect(codes).toEqual([401, 401, 202, 401]);
      expect(errorOf(fifth)).toMatchObject({ status: 429 });
      expect(fifth.headers.get("retry-after")).toMatch(/^\d+$/);
      // Another client is not affected.
      expect((await lw.post("/v1/sessions", { api_key: "pr_live_bad" }, { headers: { origin: ORIGIN }, ip: freshIp() })).status).toBe(401);
    } finally {
      await lw.dispose();
    }
  });
});
