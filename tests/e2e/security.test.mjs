// The shared security suite: every authenticated route is checked against no key,
// malformed/unknown/revoked/expired keys, another org's project, a test key on a live project,
// a read key on a write route, a `member` on an admin route and an admin on an owner route. The
// routes and what each needs come from the one declaration (core/src/api/routes.rs, printed by
// `cargo run -p parityrail-core --example routes`), so a new route cannot escape this suite.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { startWorker } from "./harness.mjs";
import { ROUTES_FILE } from "./global-setup.mjs";
import { addMember, errorOf, forgeKey, missingProjectId, newKey, newOrg, newProject, unique } from "./fixtures.mjs";

let w;
const f = {};

beforeAll(async () => {
  w = await startWorker();
  const a = await newOrg(w);
  f.owner = a.key;
  f.project = (await newProject(w, a.key)).id;
  f.readKey = (await newKey(w, a.key, { capability: "read" })).key;
  f.testKey = (await newKey(w, a.key, { environment: "test" })).key;
  f.projectKey = (await newKey(w, a.key, { project_id: f.project })).key;
  const member = await addMember(w, a.key, "member");
  f.memberKey = (await newKey(w, a.key, { member_id: member.id })).key;
  const admin = await addMember(w, a.key, "admin");
  f.adminKey = (await newKey(w, a.key, { member_id: admin.id })).key;
  f.victim = (await addMember(w, a.key, "member")).id;
  f.spareKeyId = (await newKey(w, a.key, { name: "spare" })).id;
  const revoked = await newKey(w, a.key);
  expect((await w.delete(`/v1/keys/${revoked.id}`, { key: a.key })).status).toBe(200);
  f.revokedKey = revoked.key;
  const expiring = await newKey(w, a.key);
  const db = await w.d1();
  await db.prepare("UPDATE api_keys SET expires_at = '2001-01-01T00:00:00.000Z' WHERE id = ?").bind(expiring.id).run();
  f.expiredKey = expiring.key;
  const b = await newOrg(w);
  f.otherOrgOwner = b.key;
  f.otherOrgProject = (await newProject(w, b.key)).id;
});
afterAll(async () => w?.dispose());

const declared = JSON.parse(readFileSync(ROUTES_FILE, "utf8"));

// Bodies for the routes whose security checks are easier to read with a realistic body; every
// check here happens before the body is parsed, so any other route gets `{}`.
const bodies = {
  "POST /v1/org/members": () => ({ email: `${unique("x")}@example.com`, role: "member" }),
  "PATCH /v1/org/members/{mid}": () => ({ role: "admin" }),
  "POST /v1/keys": () => ({ name: "k", environment: "live", capability: "read" }),
  "POST /v1/keys/{kid}/rotate": () => ({ grace_seconds: 0 }),
  "POST /v1/projects": () => ({ name: "p" }),
  "PATCH /v1/projects/{pid}": () => ({ name: "renamed" }),
  "PUT /v1/projects/{pid}/members/{mid}": () => ({ role: "admin" }),
  "PUT /v1/projects/{pid}/integrations/stripe": () => ({ api_key: `rk_live_${randomBytes(12).toString("hex")}` }),
  "PUT /v1/projects/{pid}/integrations/database": () => ({ read_url: "postgres://u:p@127.0.0.1:1/db" }),
  "POST /v1/projects/{pid}/incidents/{iid}/ignore": () => ({ reason: "expected" }),
  "POST /v1/projects/{pid}/repairs/{rid}/reject": () => ({ reason: "not now" }),
  "POST /v1/projects/{pid}/webhook-endpoints": () => ({ url: "https://hooks.example.com/parityrail" }),
};

// need: read | write (repair key, any role) | admin | owner
const KEY_GUARDS = ["key", "org_key", "live_org_key"];
const routes = declared
  .filter((r) => KEY_GUARDS.includes(r.guard.kind))
  .map((r) => ({ m: r.method, p: r.path, need: r.guard.need, kind: r.guard.kind, project: r.path.includes("{pid}"), body: bodies[`${r.method} ${r.path}`] ?? (r.method === "GET" || r.method === "DELETE" ? undefined : () => ({})) }));

describe("the route declaration", () => {
  it("lists every route this suite knows a body for, and every API route needs a key, the operator token, a sign-in or a session", () => {
    const keys = new Set(declared.map((r) => `${r.method} ${r.path}`));
    for (const k of Object.keys(bodies)) expect(keys, k).toContain(k);
    expect(routes.length).toBeGreaterThanOrEqual(24);
    for (const r of declared.filter((r) => r.path.startsWith("/v1/"))) {
      expect([...KEY_GUARDS, "operator", "sign_in", "session"], `${r.method} ${r.path}`).toContain(r.guard.kind);
      if (r.guard.kind === "sign_in") expect(`${r.method} ${r.path}`).toMatch(/^POST \/v1\/sessions/);
      if (r.guard.kind === "session") expect(r.path).toMatch(/^\/v1\/session(\/|$)/);
    }
  });
});

function call(route, key, pid = f.project) {
  const path = route.p.replace("{pid}", pid).replace("{mid}", f.victim).replace("{kid}", f.spareKeyId);
  return w.request(route.m, path, { key, body: route.body?.() });
}

describe.each(routes)("$m $p", (route) => {
  it("refuses a request without a key with 401", async () => {
    const r = await call(route, undefined);
    expect(errorOf(r)).toMatchObject({ status: 401, code: "missing_api_key" });
  });

  it("refuses malformed, unknown, revoked and expired keys with the same 401", async () => {
    const bodies = [];
    for (const key of ["pr_live_nope", "sk_live_123", forgeKey("live"), forgeKey("test"), f.revokedKey, f.expiredKey]) {
      const r = await call(route, key);
      const e = errorOf(r);
      expect(e, key.slice(0, 8)).toMatchObject({ status: 401, code: "invalid_api_key" });
      bodies.push(e);
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
  });

  if (route.project) {
    it("answers another org's project with the same 404 as a missing one", async () => {
      const missing = errorOf(await call(route, f.owner, missingProjectId()));
      const foreign = errorOf(await call(route, f.owner, f.otherOrgProject));
      const malformed = errorOf(await call(route, f.owner, "prj_../../etc"));
      expect(missing).toMatchObject({ status: 404, code: "not_found" });
      expect(foreign).toEqual(missing);
      expect(malformed).toEqual(missing);
    });

    it("answers a test key on a live project with that same 404", async () => {
      const missing = errorOf(await call(route, f.testKey, missingProjectId()));
      const live = errorOf(await call(route, f.testKey, f.project));
      expect(live).toEqual(missing);
      expect(live.status).toBe(404);
    });
  }

  // Every typed path parameter besides {pid} (core/src/api/path.rs): a value that does not parse
  // names nothing, the same 404 as a well-formed id that names nothing, before any work.
  const named = [...route.p.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).filter((n) => n !== "pid" && n !== "name");
  if (named.length > 0) {
    it("answers a malformed path id with the same 404 as a well-formed id of nothing", async () => {
      const absent = { mid: "mem_", kid: "key_", iid: "inc_", eid: "exp_", hid: "whe_", evid: "evt_", rid: route.p.includes("/runs/") ? "run_" : "rep_" };
      const fill = (bad) =>
        named.reduce((p, n) => p.replace(`{${n}}`, bad ? "x'%20or%201=1" : n === "cus" ? "cus_nobody" : `${absent[n]}${"0".repeat(22)}`), route.p.replace("{pid}", f.project).replace("{name}", "manifest.json"));
      const malformed = errorOf(await w.request(route.m, fill(true), { key: f.owner, body: route.body?.() }));
      // About the kind of thing the route names (a run's {rid} is not a repair's).
      const what = { mid: "member", kid: "key", iid: "incident", eid: "export", hid: "webhook endpoint", evid: "webhook event", cus: "customer", rid: absent.rid === "run_" ? "run" : "repair" }[named[0]];
      expect(malformed, fill(true)).toMatchObject({ status: 404, code: "not_found", message: `${what} not found` });
      if (!named.includes("cus")) {
        // A customer id that parses may be checked (no mapping: 409); only ids name nothing.
        const missing = errorOf(await w.request(route.m, fill(false), { key: f.owner, body: route.body?.() }));
        expect(malformed).toEqual(missing);
      }
    });
  }

  if (route.kind === "org_key" || route.kind === "live_org_key") {
    it("refuses a key limited to one project with 403", async () => {
      const r = await call(route, f.projectKey);
      expect(errorOf(r)).toMatchObject({ status: 403, code: "key_scope" });
    });
  }

  if (route.kind === "live_org_key") {
    it("refuses the owner's test key with 403", async () => {
      const r = await call(route, f.testKey);
      expect(errorOf(r)).toMatchObject({ status: 403, code: "wrong_environment" });
    });
  }

  if (route.need !== "read") {
    it("refuses a read key with 403", async () => {
      const r = await call(route, f.readKey);
      expect(errorOf(r)).toMatchObject({ status: 403, code: "read_only_key" });
    });
  }

  if (route.need === "admin" || route.need === "owner") {
    it("refuses a member's repair key with 403", async () => {
      const r = await call(route, f.memberKey);
      expect(errorOf(r)).toMatchObject({ status: 403, code: "insufficient_role" });
    });
  }

  if (route.need === "owner") {
    it("refuses an admin's repair key with 403", async () => {
      const r = await call(route, f.adminKey);
      expect(errorOf(r)).toMatchObject({ status: 403, code: "insufficient_role" });
    });
  }
});

describe("methods and paths outside the declaration", () => {
  const paths = [...new Set(declared.filter((r) => KEY_GUARDS.includes(r.guard.kind)).map((r) => r.path))];
  it.each(paths)("%s answers 405 to a method it does not declare, after authentication", async (path) => {
    const methods = new Set(declared.filter((r) => r.path === path).map((r) => r.method));
    const other = ["GET", "POST", "PUT", "PATCH", "DELETE"].find((m) => !methods.has(m) && !(m === "GET" && methods.has("HEAD")));
    const concrete = path.replace("{pid}", f.project).replace("{mid}", f.victim).replace("{kid}", f.spareKeyId);
    expect(errorOf(await w.request(other, concrete, {}))).toMatchObject({ status: 401 });
    const body = other === "GET" ? undefined : {};
    expect(errorOf(await w.request(other, concrete, { key: f.owner, body }))).toMatchObject({ status: 405, code: "method_not_allowed" });
  });

  it("POST /v1/org/audit is 405 and an unknown /v1 path is 401 without a key, 404 with one", async () => {
    expect(errorOf(await w.post("/v1/org/audit", {}, { key: f.owner }))).toMatchObject({ status: 405, code: "method_not_allowed" });
    expect(errorOf(await w.get("/v1/nothing-here"))).toMatchObject({ status: 401 });
    expect(errorOf(await w.get("/v1/nothing-here", { key: f.owner }))).toMatchObject({ status: 404, code: "no_route" });
    expect(errorOf(await w.get(`/v1/projects/${f.otherOrgProject}/nothing`, { key: f.owner }))).toMatchObject({ status: 404, code: "not_found" });
    expect(errorOf(await w.get("/v1"))).toMatchObject({ status: 404, code: "no_route" });
    expect((await w.get("/nothing")).headers.get("content-type")).toMatch(/^text\/html/);
  });
});

describe("the operator routes", () => {
  const operatorRoutes = declared.filter((r) => r.guard.kind === "operator");
  it("are declared, and each accepts only the operator token", async () => {
    expect(operatorRoutes.length).toBeGreaterThanOrEqual(2);
    const body = { name: "X", owner_email: "x@example.com" };
    const org = (await w.get("/v1/org", { key: f.owner })).json.id;
    for (const route of operatorRoutes) {
      const path = route.path.replace("{oid}", org);
      for (const key of [undefined, "wrong-token-of-some-length", f.owner]) {
        const r = await w.request(route.method, path, { key, body: route.path.endsWith("/orgs") ? body : {} });
        expect(errorOf(r), `${route.method} ${route.path}`).toMatchObject({ status: 401, code: "invalid_operator_token" });
      }
    }
  });
  it("an undeclared method on an operator path answers 405 only to the operator token", async () => {
    const { OPERATOR_TOKEN } = await import("./harness.mjs");
    for (const route of operatorRoutes) {
      const path = route.path.replace("{oid}", "org_0000000000000000000000");
      for (const key of [undefined, f.owner]) {
        expect(errorOf(await w.request("PATCH", path, { key, body: {} })), path).toMatchObject({ status: 401, code: "invalid_operator_token" });
      }
      expect(errorOf(await w.request("PATCH", path, { key: OPERATOR_TOKEN, body: {} })), path).toMatchObject({ status: 405 });
    }
  });

  it("the operator token opens nothing else", async () => {
    const { OPERATOR_TOKEN } = await import("./harness.mjs");
    const r = await w.get("/v1/org", { key: OPERATOR_TOKEN });
    expect(errorOf(r)).toMatchObject({ status: 401, code: "invalid_api_key" });
  });
});
