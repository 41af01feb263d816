// The shared security suite (issue 2, point 7): every authenticated route is checked against no
// key, malformed/unknown/revoked/expired keys, another org's project, a test key on a live
// project, a read key on a write route and a `member` on an admin route.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { startWorker } from "./harness.mjs";
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

// need: read | write (repair key, any role) | admin | owner
const routes = [
  { m: "GET", p: "/v1/org", need: "read" },
  { m: "GET", p: "/v1/org/members", need: "read" },
  { m: "POST", p: "/v1/org/members", body: () => ({ email: `${unique("x")}@example.com`, role: "member" }), need: "admin" },
  { m: "PATCH", p: "/v1/org/members/{mid}", body: () => ({ role: "admin" }), need: "admin" },
  { m: "DELETE", p: "/v1/org/members/{mid}", need: "admin" },
  { m: "GET", p: "/v1/org/audit", need: "read" },
  { m: "GET", p: "/v1/org/audit/verify", need: "read" },
  { m: "GET", p: "/v1/keys", need: "read" },
  { m: "POST", p: "/v1/keys", body: () => ({ name: "k", environment: "live", capability: "read" }), need: "admin" },
  { m: "DELETE", p: "/v1/keys/{kid}", need: "admin" },
  { m: "POST", p: "/v1/keys/{kid}/rotate", body: () => ({ grace_seconds: 0 }), need: "admin" },
  { m: "GET", p: "/v1/projects", need: "read" },
  { m: "POST", p: "/v1/projects", body: () => ({ name: "p" }), need: "admin" },
  { m: "GET", p: "/v1/projects/{pid}", need: "read", project: true },
  { m: "PATCH", p: "/v1/projects/{pid}", body: () => ({ name: "renamed" }), need: "admin", project: true },
  { m: "DELETE", p: "/v1/projects/{pid}", need: "owner", project: true },
  { m: "PUT", p: "/v1/projects/{pid}/members/{mid}", body: () => ({ role: "admin" }), need: "admin", project: true },
  { m: "GET", p: "/v1/projects/{pid}/integrations", need: "read", project: true },
  { m: "PUT", p: "/v1/projects/{pid}/integrations/stripe", body: () => ({ api_key: `rk_live_${randomBytes(12).toString("hex")}` }), need: "admin", project: true },
  { m: "POST", p: "/v1/projects/{pid}/integrations/stripe/test", need: "admin", project: true },
  { m: "PUT", p: "/v1/projects/{pid}/integrations/database", body: () => ({ read_url: "postgres://u:p@127.0.0.1:1/db" }), need: "admin", project: true },
  { m: "POST", p: "/v1/projects/{pid}/integrations/database/test", need: "admin", project: true },
  { m: "GET", p: "/v1/projects/{pid}/audit", need: "read", project: true },
  { m: "GET", p: "/v1/projects/{pid}/audit/verify", need: "read", project: true },
];

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

describe("the operator route", () => {
  it("accepts only the operator token, and the operator token opens nothing else", async () => {
    const body = { name: "X", owner_email: "x@example.com" };
    for (const key of [undefined, "wrong-token-of-some-length", f.owner]) {
      const r = await w.post("/v1/operator/orgs", body, { key });
      expect(errorOf(r)).toMatchObject({ status: 401, code: "invalid_operator_token" });
    }
    const { OPERATOR_TOKEN } = await import("./harness.mjs");
    const r = await w.get("/v1/org", { key: OPERATOR_TOKEN });
    expect(errorOf(r)).toMatchObject({ status: 401, code: "invalid_api_key" });
  });
});
