import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker } from "./harness.mjs";
import { addMember, errorOf, keyChecksumOk, newKey, newOrg, newProject } from "./fixtures.mjs";

let w;
let org;
beforeAll(async () => {
  w = await startWorker();
  org = await newOrg(w);
});
afterAll(async () => w?.dispose());

describe("API keys", () => {
  it("have the documented shape and checksum, and the plaintext is shown exactly once", async () => {
    const k = await newKey(w, org.key, { capability: "read" });
    expect(k.key).toMatch(/^pr_live_[0-9A-Za-z]{49}$/);
    expect(keyChecksumOk(k.key)).toBe(true);
    expect(org.key).toMatch(/^pr_live_/);
    expect(keyChecksumOk(org.key)).toBe(true);
    expect(k.view).toMatchObject({ prefix: "pr_live_", last4: k.key.slice(-4), scope: "org", capability: "read" });
    const list = await w.get("/v1/keys?limit=100", { key: org.key });
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(k.key.slice(8, 51));
    expect(list.json.data.find((x) => x.id === k.id)).toMatchObject({ last4: k.key.slice(-4) });
    expect(list.json.data.every((x) => x.key === undefined && x.key_hash === undefined)).toBe(true);
  });

  it("are stored only as a SHA-256 hash", async () => {
    const k = await newKey(w, org.key);
    const db = await w.d1();
    const row = await db.prepare("SELECT * FROM api_keys WHERE id = ?").bind(k.id).first();
    const { createHash } = await import("node:crypto");
    expect(row.key_hash).toBe(createHash("sha256").update(k.key).digest("hex"));
    expect(JSON.stringify(row)).not.toContain(k.key.slice(8, 51));
  });

  it("a revoked key is rejected on the very next request", async () => {
    const k = await newKey(w, org.key);
    expect((await w.get("/v1/org", { key: k.key })).status).toBe(200);
    const r = await w.delete(`/v1/keys/${k.id}`, { key: org.key });
    expect(r.status).toBe(200);
    expect(r.json.revoked_at).toBeTruthy();
    expect(errorOf(await w.get("/v1/org", { key: k.key }))).toMatchObject({ status: 401 });
  });

  it("rotation with grace 0 stops the old key at once and the new one works", async () => {
    const k = await newKey(w, org.key, { capability: "read" });
    const r = await w.post(`/v1/keys/${k.id}/rotate`, { grace_seconds: 0 }, { key: org.key });
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ rotated_from: k.id, capability: "read", name: k.view.name, scope: "org" });
    expect(keyChecksumOk(r.json.key)).toBe(true);
    expect((await w.get("/v1/org", { key: r.json.key })).status).toBe(200);
    expect((await w.get("/v1/org", { key: k.key })).status).toBe(401);
  });

  it("rotation with a grace period keeps the old key working until the grace ends", async () => {
    const k = await newKey(w, org.key);
    const r = await w.post(`/v1/keys/${k.id}/rotate`, { grace_seconds: 3600 }, { key: org.key });
    expect(r.status).toBe(201);
    expect((await w.get("/v1/org", { key: k.key })).status).toBe(200);
    const ends = Date.parse(r.json.old_key_expires_at);
    expect(ends - Date.now()).toBeGreaterThan(3500_000);
    expect(ends - Date.now()).toBeLessThanOrEqual(3600_000);
    // Move the clock past the grace by moving the stored end into the past.
    const db = await w.d1();
    await db.prepare("UPDATE api_keys SET expires_at = '2001-01-01T00:00:00.000Z' WHERE id = ?").bind(k.id).run();
    expect((await w.get("/v1/org", { key: k.key })).status).toBe(401);
    expect((await w.get("/v1/org", { key: r.json.key })).status).toBe(200);
  });

  it("rotation refuses a grace over 24 h and revoked keys", async () => {
    const k = await newKey(w, org.key);
    expect(errorOf(await w.post(`/v1/keys/${k.id}/rotate`, { grace_seconds: 86401 }, { key: org.key }))).toMatchObject({
      status: 400,
      code: "invalid_field",
    });
    await w.delete(`/v1/keys/${k.id}`, { key: org.key });
    expect(errorOf(await w.post(`/v1/keys/${k.id}/rotate`, { grace_seconds: 0 }, { key: org.key }))).toMatchObject({
      status: 409,
      code: "key_inactive",
    });
  });

  it("an expiry in the past is refused and an expired key stops working", async () => {
    expect(
      errorOf(await w.post("/v1/keys", { name: "x", environment: "live", capability: "read", expires_at: "2001-01-01T00:00:00Z" }, { key: org.key })),
    ).toMatchObject({ status: 400, code: "invalid_field" });
    const soon = new Date(Date.now() + 1500).toISOString();
    const k = await newKey(w, org.key, { expires_at: soon });
    expect((await w.get("/v1/org", { key: k.key })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1700));
    expect((await w.get("/v1/org", { key: k.key })).status).toBe(401);
  });

  it("records when a key was last used", async () => {
    const k = await newKey(w, org.key);
    expect(k.view.last_used_at).toBeNull();
    await w.get("/v1/org", { key: k.key });
    await new Promise((r) => setTimeout(r, 100));
    const list = await w.get("/v1/keys?limit=100", { key: org.key });
    const used = list.json.data.find((x) => x.id === k.id).last_used_at;
    expect(Math.abs(Date.parse(used) - Date.now())).toBeLessThan(10_000);
  });

  it("accepts the api_key query parameter and never logs it", async () => {
    const k = await newKey(w, org.key);
    const r = await w.get(`/v1/org?api_key=${k.key}`);
    expect(r.status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    const logs = w.logs.join("");
    expect(logs).toContain("api_key=[redacted]");
    expect(logs).not.toContain(k.key.slice(8, 51));
  });

  it("no key plaintext ever appears in any log line", async () => {
    const k = await newKey(w, org.key);
    await w.get("/v1/keys", { key: k.key });
    await w.post(`/v1/keys/${k.id}/rotate`, { grace_seconds: 0 }, { key: org.key });
    const logs = w.logs.join("");
    expect(logs).not.toContain(k.key.slice(8, 51));
    expect(logs).not.toContain(org.key.slice(8, 51));
  });
});

describe("key powers never exceed their maker's", () => {
  it("a test key cannot mint, rotate or revoke live keys", async () => {
    const t = await newKey(w, org.key, { environment: "test" });
    expect(errorOf(await w.post("/v1/keys", { name: "x", environment: "live", capability: "repair" }, { key: t.key }))).toMatchObject({
      status: 403,
      code: "wrong_environment",
    });
    const live = await newKey(w, org.key);
    // A live key is invisible to a test key: the same 404 as a key that does not exist.
    expect(errorOf(await w.post(`/v1/keys/${live.id}/rotate`, { grace_seconds: 0 }, { key: t.key }))).toMatchObject({ status: 404 });
    expect(errorOf(await w.delete(`/v1/keys/${live.id}`, { key: t.key }))).toMatchObject({ status: 404 });
    expect((await w.get("/v1/org", { key: live.key })).status).toBe(200);
    const ok = await w.post("/v1/keys", { name: "x", environment: "test", capability: "read" }, { key: t.key });
    expect(ok.status).toBe(201);
  });

  it("an admin cannot mint or rotate a key that acts for the owner", async () => {
    const admin = await addMember(w, org.key, "admin");
    const adminKey = (await newKey(w, org.key, { member_id: admin.id })).key;
    const r = await w.post("/v1/keys", { name: "x", environment: "live", capability: "repair", member_id: org.owner.id }, { key: adminKey });
    expect(errorOf(r)).toMatchObject({ status: 403, code: "insufficient_role" });
    expect(errorOf(await w.post(`/v1/keys/${org.keyId}/rotate`, { grace_seconds: 0 }, { key: adminKey }))).toMatchObject({ status: 403 });
    expect((await w.get("/v1/org", { key: org.key })).status).toBe(200);
  });

  it("a project-scoped key sees only its project and cannot act at org level", async () => {
    const p1 = await newProject(w, org.key);
    const p2 = await newProject(w, org.key);
    const scoped = await newKey(w, org.key, { project_id: p1.id });
    expect(scoped.view.scope).toBe(p1.id);
    expect((await w.get(`/v1/projects/${p1.id}`, { key: scoped.key })).status).toBe(200);
    expect(errorOf(await w.get(`/v1/projects/${p2.id}`, { key: scoped.key }))).toMatchObject({ status: 404 });
    const list = await w.get("/v1/projects", { key: scoped.key });
    expect(list.json.data.map((p) => p.id)).toEqual([p1.id]);
    expect(errorOf(await w.post("/v1/projects", { name: "x" }, { key: scoped.key }))).toMatchObject({ status: 403, code: "key_scope" });
    expect(errorOf(await w.post("/v1/keys", { name: "x", environment: "live", capability: "read" }, { key: scoped.key }))).toMatchObject({
      status: 403,
      code: "key_scope",
    });
  });

  it("a project key must name a project of its own environment", async () => {
    const p = await newProject(w, org.key);
    const r = await w.post("/v1/keys", { name: "x", environment: "test", capability: "read", project_id: p.id }, { key: org.key });
    expect(errorOf(r)).toMatchObject({ status: 400, code: "invalid_field" });
    expect(r.json.error.field).toBe("project_id");
  });

  it("keys of a removed member stop working at once", async () => {
    const m = await addMember(w, org.key, "admin");
    const k = await newKey(w, org.key, { member_id: m.id });
    expect((await w.get("/v1/org", { key: k.key })).status).toBe(200);
    expect((await w.delete(`/v1/org/members/${m.id}`, { key: org.key })).status).toBe(200);
    expect((await w.get("/v1/org", { key: k.key })).status).toBe(401);
  });

  it("a demoted member loses admin powers on the next request", async () => {
    const m = await addMember(w, org.key, "admin");
    const k = await newKey(w, org.key, { member_id: m.id });
    expect((await w.post("/v1/projects", { name: "ok" }, { key: k.key })).status).toBe(201);
    expect((await w.patch(`/v1/org/members/${m.id}`, { role: "member" }, { key: org.key })).status).toBe(200);
    expect(errorOf(await w.post("/v1/projects", { name: "no" }, { key: k.key }))).toMatchObject({ status: 403 });
  });
});

describe("environments", () => {
  it("a test key sees only test projects and a live key only live ones", async () => {
    const t = await newKey(w, org.key, { environment: "test" });
    const testProject = await newProject(w, t.key);
    expect(testProject.environment).toBe("test");
    const liveProject = await newProject(w, org.key);
    const tl = await w.get("/v1/projects?limit=100", { key: t.key });
    expect(tl.json.data.map((p) => p.id)).toContain(testProject.id);
    expect(tl.json.data.every((p) => p.environment === "test")).toBe(true);
    const ll = await w.get("/v1/projects?limit=100", { key: org.key });
    expect(ll.json.data.map((p) => p.id)).toContain(liveProject.id);
    expect(ll.json.data.map((p) => p.id)).not.toContain(testProject.id);
    expect((await w.get(`/v1/projects/${testProject.id}`, { key: org.key })).status).toBe(404);
    expect(errorOf(await w.post("/v1/projects", { name: "x", environment: "live" }, { key: t.key }))).toMatchObject({
      status: 403,
      code: "wrong_environment",
    });
  });
});
