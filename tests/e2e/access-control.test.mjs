// Access control end to end: a test key never touches live access, role ceilings for overrides
// and keys, keys minted for others capped below their minter, a change committing only while its
// caller is what authentication found, guessing stopped (failure budgets, the limiter failing
// closed), removals and deletions recorded completely and race-free, and connection tests
// limited per project. (Several first came from the independent security review of issue 11.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATOR_TOKEN, startWorker } from "./harness.mjs";
import { addMember, errorOf, forgeKey, newKey, newOrg, newProject } from "./fixtures.mjs";

let w;
beforeAll(async () => {
  w = await startWorker();
});
afterAll(async () => w?.dispose());

describe("a test key never changes live access (review item 1)", () => {
  it("the owner's test key can neither add an admin, nor transfer ownership, nor remove the owner", async () => {
    const o = await newOrg(w);
    const t = (await newKey(w, o.key, { environment: "test" })).key;
    const add = await w.post("/v1/org/members", { email: "mallory@example.com", role: "admin" }, { key: t });
    expect(errorOf(add)).toMatchObject({ status: 403, code: "wrong_environment" });
    const admin = await addMember(w, o.key, "admin");
    const transfer = await w.patch(`/v1/org/members/${admin.id}`, { role: "owner" }, { key: t });
    expect(errorOf(transfer)).toMatchObject({ status: 403, code: "wrong_environment" });
    const demote = await w.patch(`/v1/org/members/${admin.id}`, { role: "member" }, { key: t });
    expect(errorOf(demote)).toMatchObject({ status: 403, code: "wrong_environment" });
    const remove = await w.delete(`/v1/org/members/${admin.id}`, { key: t });
    expect(errorOf(remove)).toMatchObject({ status: 403, code: "wrong_environment" });
    const members = (await w.get("/v1/org/members", { key: o.key })).json.data;
    expect(members.map((m) => [m.id, m.role]).sort()).toEqual([[admin.id, "admin"], [o.owner.id, "owner"]].sort());
    expect((await w.get("/v1/org", { key: o.key })).status).toBe(200);
  });
});

describe("a test key sees no live metadata (review item 2)", () => {
  it("lists only test keys, and live key ids look missing to it", async () => {
    const o = await newOrg(w);
    const t = await newKey(w, o.key, { environment: "test" });
    const t2 = await newKey(w, o.key, { environment: "test", capability: "read" });
    const live = await newKey(w, o.key);
    const list = await w.get("/v1/keys?limit=100", { key: t.key });
    expect(list.status).toBe(200);
    expect(list.json.data.map((k) => k.id).sort()).toEqual([t.id, t2.id].sort());
    expect(list.json.data.every((k) => k.environment === "test")).toBe(true);
    const liveList = await w.get("/v1/keys?limit=100", { key: o.key });
    expect(liveList.json.data.map((k) => k.id)).toEqual(expect.arrayContaining([t.id, live.id, o.keyId]));
  });

  it("the org chain needs a live key", async () => {
    const o = await newOrg(w);
    const t = (await newKey(w, o.key, { environment: "test" })).key;
    for (const path of ["/v1/org/audit", "/v1/org/audit/verify"]) {
      expect(errorOf(await w.get(path, { key: t }))).toMatchObject({ status: 403, code: "wrong_environment" });
      expect((await w.get(path, { key: o.key })).status).toBe(200);
    }
  });
});

describe("role ceilings hold for project overrides and keys (review item 3)", () => {
  async function setup() {
    const o = await newOrg(w);
    const p = await newProject(w, o.key);
    const orgAdmin = await addMember(w, o.key, "admin");
    const adminKey = (await newKey(w, o.key, { member_id: orgAdmin.id })).key;
    const m = await addMember(w, o.key, "member");
    const mKey = (await newKey(w, o.key, { member_id: m.id })).key;
    const other = await addMember(w, o.key, "member");
    expect((await w.put(`/v1/projects/${p.id}/members/${m.id}`, { role: "admin" }, { key: o.key })).status).toBe(200);
    return { o, p, orgAdmin, adminKey, m, mKey, other };
  }

  it("a member with an admin override can neither demote an org admin nor promote anyone", async () => {
    const { p, orgAdmin, mKey, other, o } = await setup();
    const demote = await w.put(`/v1/projects/${p.id}/members/${orgAdmin.id}`, { role: "member" }, { key: mKey });
    expect(errorOf(demote)).toMatchObject({ status: 403, code: "insufficient_role" });
    const promote = await w.put(`/v1/projects/${p.id}/members/${other.id}`, { role: "admin" }, { key: mKey });
    expect(errorOf(promote)).toMatchObject({ status: 403, code: "insufficient_role" });
    // Nothing changed: no override was recorded for either of them.
    const audit = (await w.get(`/v1/projects/${p.id}/audit?limit=100`, { key: o.key })).json.data;
    expect(audit.filter((e) => e.action === "project.member_role_set").map((e) => e.target)).not.toContain(`member:${other.id}`);
  });

  it("an org admin sets overrides below the owner, and the owner is never a target", async () => {
    const { p, adminKey, other, o } = await setup();
    expect((await w.put(`/v1/projects/${p.id}/members/${other.id}`, { role: "admin" }, { key: adminKey })).status).toBe(200);
    const owner = await w.put(`/v1/projects/${p.id}/members/${o.owner.id}`, { role: "member" }, { key: adminKey });
    expect(errorOf(owner)).toMatchObject({ status: 409, code: "owner_required" });
  });

  it("an override is cleared only by an explicit null", async () => {
    const { p, other, o } = await setup();
    expect((await w.put(`/v1/projects/${p.id}/members/${other.id}`, { role: "admin" }, { key: o.key })).status).toBe(200);
    const empty = await w.put(`/v1/projects/${p.id}/members/${other.id}`, {}, { key: o.key });
    expect(errorOf(empty)).toMatchObject({ status: 400, code: "invalid_field" });
    expect(empty.json.error.field).toBe("role");
    const audit = async () => (await w.get(`/v1/projects/${p.id}/audit?limit=100`, { key: o.key })).json.data;
    const last = (await audit()).filter((e) => e.action === "project.member_role_set").pop();
    expect(last.after.role).toBe("admin");
    const cleared = await w.put(`/v1/projects/${p.id}/members/${other.id}`, { role: null }, { key: o.key });
    expect(cleared.json).toMatchObject({ role: null });
    expect((await audit()).filter((e) => e.action === "project.member_role_set").pop().after.role).toBe(null);
  });

  it("an admin cannot mint or rotate a key that acts for another admin; the owner can", async () => {
    const { o, adminKey } = await setup();
    const peer = await addMember(w, o.key, "admin");
    const r = await w.post("/v1/keys", { name: "as peer", environment: "live", capability: "repair", member_id: peer.id }, { key: adminKey });
    expect(errorOf(r)).toMatchObject({ status: 403, code: "insufficient_role" });
    const peerKey = await newKey(w, o.key, { member_id: peer.id });
    const rot = await w.post(`/v1/keys/${peerKey.id}/rotate`, { grace_seconds: 0 }, { key: adminKey });
    expect(errorOf(rot)).toMatchObject({ status: 403, code: "insufficient_role" });
    expect((await w.get("/v1/org", { key: peerKey.key })).status).toBe(200);
    const member = await addMember(w, o.key, "member");
    const ok = await w.post("/v1/keys", { name: "as member", environment: "live", capability: "read", member_id: member.id }, { key: adminKey });
    expect(ok.status).toBe(201);
  });

  it("a project-scoped key does not list the org's members", async () => {
    const { o, p } = await setup();
    const scoped = (await newKey(w, o.key, { project_id: p.id, capability: "read" })).key;
    const r = await w.get("/v1/org/members", { key: scoped });
    expect(errorOf(r)).toMatchObject({ status: 403, code: "key_scope" });
    expect(r.text).not.toContain("@example.com");
  });
});

describe("a key minted for someone else acts below its minter, on every request", () => {
  it("demote, mint, re-promote: the admin's key for a peer still acts as a member", async () => {
    const o = await newOrg(w);
    const a = await addMember(w, o.key, "admin");
    const aKey = (await newKey(w, o.key, { member_id: a.id })).key;
    const b = await addMember(w, o.key, "admin");
    expect((await w.patch(`/v1/org/members/${b.id}`, { role: "member" }, { key: aKey })).status).toBe(200);
    const asB = await w.post("/v1/keys", { name: "as b", environment: "live", capability: "repair", member_id: b.id }, { key: aKey });
    expect(asB.status, asB.text).toBe(201);
    // A's key was the owner's (capped at admin): the new one stays on the owner's account, minted
    // through A, capped at what A could grant.
    expect(asB.json).toMatchObject({ minted_by: o.owner.id, minted_via: a.id, minted_role: "member" });
    expect((await w.patch(`/v1/org/members/${b.id}`, { role: "admin" }, { key: o.key })).status).toBe(200);
    // B is an admin again, but the key A minted acts as a member: no admin route through it.
    expect((await w.get("/v1/org", { key: asB.json.key })).status).toBe(200);
    expect(errorOf(await w.post("/v1/projects", { name: "via b" }, { key: asB.json.key }))).toMatchObject({ status: 403, code: "insufficient_role" });
    // Nor can it mint an uncapped key for B.
    expect(errorOf(await w.post("/v1/keys", { name: "x", environment: "live", capability: "repair" }, { key: asB.json.key }))).toMatchObject({ status: 403 });
    // A key the owner minted for B acts as B's admin role.
    const ownerForB = (await newKey(w, o.key, { member_id: b.id })).key;
    expect((await w.post("/v1/projects", { name: "by b" }, { key: ownerForB })).status).toBe(201);
  });

  it("a capped key can neither rotate nor mint its way out of its cap", async () => {
    const o = await newOrg(w);
    const a = await addMember(w, o.key, "admin");
    const forA = await newKey(w, o.key, { member_id: a.id }); // the owner's, capped at admin
    expect(forA.view).toMatchObject({ minted_by: o.owner.id, minted_role: "admin" });
    const rotated = await w.post(`/v1/keys/${forA.id}/rotate`, { grace_seconds: 0 }, { key: forA.key });
    expect(rotated.status, rotated.text).toBe(201);
    expect(rotated.json).toMatchObject({ minted_by: o.owner.id, minted_role: "admin" });
    const self = await w.post("/v1/keys", { name: "mine", environment: "live", capability: "repair" }, { key: rotated.json.key });
    expect(self.json).toMatchObject({ minted_by: o.owner.id, minted_role: "admin" });
    const m = await addMember(w, o.key, "member");
    const forM = await w.post("/v1/keys", { name: "m", environment: "live", capability: "read", member_id: m.id }, { key: self.json.key });
    expect(forM.json).toMatchObject({ minted_by: o.owner.id, minted_role: "member" });
  });

  it("after a transfer, keys the previous owner minted for the new owner stay capped; the operator issues the uncapped one", async () => {
    const o = await newOrg(w);
    const b = await addMember(w, o.key, "admin");
    const forB = await newKey(w, o.key, { member_id: b.id }); // A holds this plaintext too
    expect((await w.patch(`/v1/org/members/${b.id}`, { role: "owner" }, { key: o.key })).status).toBe(200);
    // A is an admin now and can grant no more than member: the keys it minted (it may hold
    // them) are capped there, each recorded.
    const keys = (await w.get("/v1/keys?limit=100", { key: o.key })).json.data;
    expect(keys.find((k) => k.id === forB.id)).toMatchObject({ minted_by: o.owner.id, minted_role: "member" });
    const capped = (await w.get("/v1/org/audit?limit=100", { key: o.key })).json.data.filter((e) => e.action === "key.capped");
    expect(capped.map((e) => [e.target, e.before.minted_role, e.after.minted_role])).toEqual([[`key:${forB.id}`, "admin", "member"]]);
    // With forB, nobody (A included) mints B a key, acts as owner, or changes a role.
    expect(errorOf(await w.post("/v1/keys", { name: "mine", environment: "live", capability: "repair" }, { key: forB.key }))).toMatchObject({ status: 403 });
    const p = await newProject(w, o.key);
    expect(errorOf(await w.delete(`/v1/projects/${p.id}`, { key: forB.key }))).toMatchObject({ status: 403 });
    expect(errorOf(await w.patch(`/v1/org/members/${o.owner.id}`, { role: "owner" }, { key: forB.key }))).toMatchObject({ status: 403 });
    const own = { json: { key: forB.key } };
    // The operator issues the current owner a key nobody else has seen.
    const issued = await w.post(`/v1/operator/orgs/${o.org.id}/owner-key`, {}, { key: OPERATOR_TOKEN });
    expect(issued.status, issued.text).toBe(201);
    expect(issued.json).toMatchObject({ member_id: b.id, environment: "live", capability: "repair", minted_by: null });
    const bKey = issued.json.key;
    // Bounded: the key expires within a day, and while B holds an uncapped key the operator
    // issues no other (B mints its own).
    const ttl = Date.parse(issued.json.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(23 * 3600e3);
    expect(ttl).toBeLessThanOrEqual(24 * 3600e3);
    expect(errorOf(await w.post(`/v1/operator/orgs/${o.org.id}/owner-key`, {}, { key: OPERATOR_TOKEN }))).toMatchObject({ status: 409, code: "owner_has_key" });
    const lasting = await w.post("/v1/keys", { name: "b's own", environment: "live", capability: "repair" }, { key: bKey });
    expect(lasting.json).toMatchObject({ minted_by: null, expires_at: null });
    expect((await w.delete(`/v1/projects/${p.id}`, { key: bKey })).status).toBe(200);
    // B demotes A to member: A cannot climb back through the key it minted for B.
    expect((await w.patch(`/v1/org/members/${o.owner.id}`, { role: "member" }, { key: bKey })).status).toBe(200);
    expect(errorOf(await w.patch(`/v1/org/members/${o.owner.id}`, { role: "admin" }, { key: forB.key }))).toMatchObject({ status: 403 });
    expect((await w.get("/v1/org/members", { key: bKey })).json.data.find((m) => m.id === o.owner.id).role).toBe("member");
    // B removes A: everything minted from A's keys dies, B's operator key lives.
    expect((await w.delete(`/v1/org/members/${o.owner.id}`, { key: bKey })).status).toBe(200);
    expect((await w.get("/v1/org", { key: own.json.key })).status).toBe(401);
    expect((await w.get("/v1/org", { key: bKey })).status).toBe(200);
    const audit = (await w.get("/v1/org/audit?limit=100", { key: bKey })).json.data;
    expect(audit.some((e) => e.action === "key.created" && e.actor === "operator" && e.after.id === issued.json.id)).toBe(true);
    // An owner with its own uncapped key (every new org's) gets nothing from the operator.
    const fresh = await newOrg(w);
    expect(errorOf(await w.post(`/v1/operator/orgs/${fresh.org.id}/owner-key`, {}, { key: OPERATOR_TOKEN }))).toMatchObject({ status: 409, code: "owner_has_key" });
    // An org that does not exist: 404; a malformed id: 404.
    expect(errorOf(await w.post("/v1/operator/orgs/org_0000000000000000000000/owner-key", {}, { key: OPERATOR_TOKEN }))).toMatchObject({ status: 404 });
    expect(errorOf(await w.post("/v1/operator/orgs/nope/owner-key", {}, { key: OPERATOR_TOKEN }))).toMatchObject({ status: 404 });
  });

  it("a member removed while its requests run leaves no key minted through it alive", async () => {
    const o = await newOrg(w);
    const x = await addMember(w, o.key, "admin");
    const xKey = (await newKey(w, o.key, { member_id: x.id })).key;
    const m = await addMember(w, o.key, "member");
    const mints = Array.from({ length: 10 }, () =>
      w.post("/v1/keys", { name: "k", environment: "live", capability: "read", member_id: m.id }, { key: xKey }));
    const removal = w.delete(`/v1/org/members/${x.id}`, { key: o.key });
    const results = await Promise.all([...mints, removal]);
    expect(results.at(-1).status).toBe(200);
    const keys = (await w.get("/v1/keys?limit=100", { key: o.key })).json.data;
    expect(keys.filter((k) => k.minted_via === x.id && !k.revoked_at)).toEqual([]);
    // A request with the removed member's key after the removal is refused outright.
    expect((await w.post("/v1/keys", { name: "late", environment: "live", capability: "read", member_id: m.id }, { key: xKey })).status).toBe(401);
  });

  it("keys minted for others before origins were recorded are capped by the backfill", async () => {
    const o = await newOrg(w);
    const a = await addMember(w, o.key, "admin");
    const mine = await newKey(w, o.key); // the owner's own
    const forA = await newKey(w, o.key, { member_id: a.id });
    const rotatedFrom = await newKey(w, o.key, { member_id: a.id });
    const successor = (await w.post(`/v1/keys/${rotatedFrom.id}/rotate`, { grace_seconds: 0 }, { key: o.key })).json;
    const db = await w.d1();
    await db.prepare("UPDATE api_keys SET minted_by = NULL, minted_role = NULL WHERE org_id = ?").bind(o.org.id).run();
    const { readFileSync } = await import("node:fs");
    const sql = readFileSync(new URL("../../migrations/0005_backfill_key_origin.sql", import.meta.url), "utf8");
    await db.prepare(sql.replace(/^--.*$/gm, "")).run();
    const row = async (id) => db.prepare("SELECT minted_by, minted_role FROM api_keys WHERE id = ?").bind(id).first();
    expect(await row(forA.id)).toEqual({ minted_by: o.owner.id, minted_role: "member" });
    expect(await row(successor.id)).toEqual({ minted_by: o.owner.id, minted_role: "member" });
    expect(await row(mine.id)).toEqual({ minted_by: null, minted_role: null });
    expect(await row(o.keyId)).toEqual({ minted_by: null, minted_role: null });
    expect(errorOf(await w.post("/v1/projects", { name: "x" }, { key: forA.key }))).toMatchObject({ status: 403 });
  });

  it("removing a member also revokes the keys it minted for others (it may hold them)", async () => {
    const o = await newOrg(w);
    const a = await addMember(w, o.key, "admin");
    const aKey = (await newKey(w, o.key, { member_id: a.id })).key;
    const m = await addMember(w, o.key, "member");
    const forM = await newKey(w, aKey, { member_id: m.id, capability: "read" });
    expect((await w.get("/v1/org", { key: forM.key })).status).toBe(200);
    expect((await w.delete(`/v1/org/members/${a.id}`, { key: o.key })).status).toBe(200);
    expect((await w.get("/v1/org", { key: forM.key })).status).toBe(401);
    const revoked = (await w.get("/v1/org/audit?limit=100", { key: o.key })).json.data.filter((e) => e.action === "key.revoked");
    expect(revoked.map((e) => e.target)).toContain(`key:${forM.id}`);
  });

  it("an admin demoted in a project cannot act there as admin through a member's key", async () => {
    const o = await newOrg(w);
    const p = await newProject(w, o.key);
    const a = await addMember(w, o.key, "admin");
    const aKey = (await newKey(w, o.key, { member_id: a.id })).key;
    const m = await addMember(w, o.key, "member");
    expect((await w.put(`/v1/projects/${p.id}/members/${a.id}`, { role: "member" }, { key: o.key })).status).toBe(200);
    expect((await w.put(`/v1/projects/${p.id}/members/${m.id}`, { role: "admin" }, { key: o.key })).status).toBe(200);
    expect(errorOf(await w.patch(`/v1/projects/${p.id}`, { name: "by a" }, { key: aKey }))).toMatchObject({ status: 403 });
    const asM = (await newKey(w, aKey, { member_id: m.id })).key;
    expect(errorOf(await w.patch(`/v1/projects/${p.id}`, { name: "via m" }, { key: asM }))).toMatchObject({ status: 403, code: "insufficient_role" });
    const ownerForM = (await newKey(w, o.key, { member_id: m.id })).key;
    expect((await w.patch(`/v1/projects/${p.id}`, { name: "by m" }, { key: ownerForM })).status).toBe(200);
  });
});

describe("a caller's change commits only while the caller is what authentication found", () => {
  const INSERT =
    "INSERT INTO caller_checks (org_id, key_id, member_id, role, project_id, override_role, at, minted_role) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

  it("the caller check in the batch refuses a key revoked or expired, a member demoted or removed, an override changed or a project deleted", async () => {
    const o = await newOrg(w);
    const a = await addMember(w, o.key, "admin");
    const k = await newKey(w, o.key, { member_id: a.id });
    const p = await newProject(w, o.key);
    const db = await w.d1();
    const now = new Date().toISOString();
    const check = (over = {}) => {
      // The owner minted the admin's key: capped at admin (migration 0019 holds the cap too).
      const c = { key: k.id, member: a.id, role: "admin", project: null, override: null, at: now, cap: "admin", ...over };
      return db.prepare(INSERT).bind(o.org.id, c.key, c.member, c.role, c.project, c.override, c.at, c.cap).run();
    };
    await check();
    await check({ project: p.id });
    expect((await db.prepare("SELECT count(*) AS n FROM caller_checks").first()).n).toBe(0); // never stored
    await expect(check({ role: "owner" })).rejects.toThrow(/caller_changed/);
    await expect(check({ project: p.id, override: "member" })).rejects.toThrow(/caller_changed/);
    await expect(check({ key: o.keyId })).rejects.toThrow(/caller_changed/); // another member's key
    await expect(check({ cap: "owner" })).rejects.toThrow(/caller_changed/); // a cap it no longer has
    await expect(check({ cap: null })).rejects.toThrow(/caller_changed/);
    // An override set meanwhile: what authentication read (none) no longer holds.
    expect((await w.put(`/v1/projects/${p.id}/members/${a.id}`, { role: "member" }, { key: o.key })).status).toBe(200);
    await expect(check({ project: p.id })).rejects.toThrow(/caller_changed/);
    await check({ project: p.id, override: "member" });
    // A project deleted meanwhile.
    expect((await w.delete(`/v1/projects/${p.id}`, { key: o.key })).status).toBe(200);
    await expect(check({ project: p.id, override: "member" })).rejects.toThrow(/caller_changed/);
    // Expired by the time of the change.
    await db.prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?").bind(now, k.id).run();
    await expect(check()).rejects.toThrow(/caller_changed/);
    await db.prepare("UPDATE api_keys SET expires_at = NULL WHERE id = ?").bind(k.id).run();
    await check();
    // Demoted, then removed.
    expect((await w.patch(`/v1/org/members/${a.id}`, { role: "member" }, { key: o.key })).status).toBe(200);
    await expect(check()).rejects.toThrow(/caller_changed/);
    await check({ role: "member" });
    expect((await w.delete(`/v1/org/members/${a.id}`, { key: o.key })).status).toBe(200);
    await expect(check({ role: "member" })).rejects.toThrow(/caller_changed/);
  });

  it("project changes racing the revocation of their key land before it or are refused, never half-applied or a 500", async () => {
    const o = await newOrg(w);
    const p = await newProject(w, o.key);
    const k = await newKey(w, o.key);
    const changes = Array.from({ length: 12 }, (_, i) => w.patch(`/v1/projects/${p.id}`, { name: `n${i}` }, { key: k.key }));
    const revoke = w.delete(`/v1/keys/${k.id}`, { key: o.key });
    const results = await Promise.all([...changes, revoke]);
    expect(results.at(-1).status).toBe(200);
    for (const r of results.slice(0, -1)) expect([200, 401, 409], r.text).toContain(r.status);
    const landed = results.slice(0, -1).filter((r) => r.status === 200).length;
    const entries = (await w.get(`/v1/projects/${p.id}/audit?limit=100`, { key: o.key })).json.data;
    expect(entries.filter((e) => e.action === "project.updated" && e.actor.endsWith(`/key:${k.id}`)).length).toBe(landed);
    expect((await w.patch(`/v1/projects/${p.id}`, { name: "late" }, { key: k.key })).status).toBe(401);
  });

  it("keys another member minted with an owner cap are capped at admin by migration 0010", async () => {
    const o = await newOrg(w);
    const a = await addMember(w, o.key, "admin");
    const forA = await newKey(w, o.key, { member_id: a.id });
    const db = await w.d1();
    await db.prepare("UPDATE api_keys SET minted_role = 'owner' WHERE id = ?").bind(forA.id).run();
    await db.prepare("UPDATE api_keys SET minted_role = 'owner' WHERE id = ?").bind(o.keyId).run(); // its own: untouched
    const { readFileSync } = await import("node:fs");
    const sql = readFileSync(new URL("../../migrations/0010_cap_owner_origin.sql", import.meta.url), "utf8");
    await db.prepare(sql.replace(/^--.*$/gm, "")).run();
    const row = async (id) => db.prepare("SELECT minted_role FROM api_keys WHERE id = ?").bind(id).first();
    expect(await row(forA.id)).toEqual({ minted_role: "admin" });
    expect(await row(o.keyId)).toEqual({ minted_role: "owner" });
    await db.prepare("UPDATE api_keys SET minted_role = NULL WHERE id = ?").bind(o.keyId).run();
  });
});

describe("guessing is stopped, not just counted (review item 4)", () => {
  let lw;
  beforeAll(async () => {
    lw = await startWorker({ RATE_LIMIT_IP_PER_MINUTE: "3" });
  });
  afterAll(async () => lw?.dispose());

  it("after the failure budget, the right operator token gets 429 too", async () => {
    const body = { name: "X", owner_email: "x@example.com" };
    const ip = "192.0.2.50";
    for (let i = 0; i < 3; i++) {
      expect((await lw.post("/v1/operator/orgs", body, { key: "wrong-operator-token-" + i, ip })).status).toBe(401);
    }
    const right = await lw.post("/v1/operator/orgs", body, { key: OPERATOR_TOKEN, ip });
    expect(errorOf(right)).toMatchObject({ status: 429, code: "rate_limited" });
    const db = await lw.d1();
    expect((await db.prepare("SELECT count(*) AS n FROM orgs").first()).n).toBe(0);
    expect((await lw.post("/v1/operator/orgs", body, { key: OPERATOR_TOKEN, ip: "192.0.2.51" })).status).toBe(201);
  });

  it("IPv6 clients are limited by /64", async () => {
    for (let i = 1; i <= 3; i++) {
      expect((await lw.get("/v1/org", { key: forgeKey(), ip: `2001:db8:77:1::${i}` })).status).toBe(401);
    }
    expect((await lw.get("/v1/org", { key: forgeKey(), ip: "2001:db8:77:1:ffff::9" })).status).toBe(429);
    expect((await lw.get("/v1/org", { key: forgeKey(), ip: "2001:db8:77:2::1" })).status).toBe(401);
  });

  it("requests without a usable client address share one bucket", async () => {
    for (const ip of ["garbage", "1.2.3.4, 5.6.7.8", "::g"]) {
      expect((await lw.get("/v1/org", { key: forgeKey(), ip })).status).toBe(401);
    }
    expect((await lw.get("/v1/org", { key: forgeKey(), ip: "999.1.1.1" })).status).toBe(429);
  });
});

describe("the limiter fails closed", () => {
  it("without the rate limiter, authenticated routes answer 503 and nothing is evaluated", async () => {
    const broken = await startWorker({}, { withoutRateLimiter: true });
    try {
      const r = await broken.post("/v1/operator/orgs", { name: "X", owner_email: "x@example.com" }, { key: OPERATOR_TOKEN });
      expect(errorOf(r)).toMatchObject({ status: 503, code: "rate_limiter_unavailable" });
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
      const db = await broken.d1();
      expect((await db.prepare("SELECT count(*) AS n FROM orgs").first()).n).toBe(0);
      expect((await broken.get("/healthz")).status).toBe(200);
    } finally {
      await broken.dispose();
    }
  });
});

describe("removals leave a complete record (review item 7)", () => {
  async function orgChain(o) {
    return (await w.get("/v1/org/audit?limit=100", { key: o.key })).json.data;
  }

  it("removing a member records a key.revoked entry for each key it revokes", async () => {
    const o = await newOrg(w);
    const m = await addMember(w, o.key, "member");
    const k1 = await newKey(w, o.key, { member_id: m.id });
    const k2 = await newKey(w, o.key, { member_id: m.id, capability: "read" });
    const gone = await newKey(w, o.key, { member_id: m.id });
    expect((await w.delete(`/v1/keys/${gone.id}`, { key: o.key })).status).toBe(200);
    expect((await w.delete(`/v1/org/members/${m.id}`, { key: o.key })).status).toBe(200);
    const entries = await orgChain(o);
    const removal = entries.slice(entries.findIndex((e) => e.action === "member.removed"));
    const revoked = removal.filter((e) => e.action === "key.revoked");
    expect(revoked.map((e) => e.target).sort()).toEqual([`key:${k1.id}`, `key:${k2.id}`].sort());
    for (const e of revoked) {
      expect(e.before.revoked_at).toBe(null);
      expect(e.after).toMatchObject({ revoked_because: `member:${m.id}` });
      expect(e.after.revoked_at).toBe(e.at);
    }
    expect((await w.get("/v1/org", { key: k1.key })).status).toBe(401);
  });

  it("deleting a project revokes its keys and deletes its credentials, each recorded", async () => {
    const o = await newOrg(w);
    const p = await newProject(w, o.key);
    const pk = await newKey(w, o.key, { project_id: p.id });
    const put = await w.put(`/v1/projects/${p.id}/integrations/database`, {
      read_url: "postgres://reader:s3cret-read@db.example.com:5432/app",
      repair_url: "postgres://repairer:s3cret-repair@db.example.com:5432/app",
    }, { key: o.key });
    expect(put.status, put.text).toBe(200);
    const db = await w.d1();
    expect((await db.prepare("SELECT count(*) AS n FROM credentials WHERE project_id = ?").bind(p.id).first()).n).toBe(2);
    expect((await w.delete(`/v1/projects/${p.id}`, { key: o.key })).status).toBe(200);
    expect((await db.prepare("SELECT count(*) AS n FROM credentials WHERE project_id = ?").bind(p.id).first()).n).toBe(0);
    const entries = await orgChain(o);
    const tail = entries.slice(entries.findIndex((e) => e.action === "project.deleted"));
    expect(tail.filter((e) => e.action === "key.revoked").map((e) => e.target)).toEqual([`key:${pk.id}`]);
    const creds = tail.filter((e) => e.action === "credential.deleted");
    expect(creds.map((e) => e.before.kind).sort()).toEqual(["db_read_url", "db_repair_url"]);
    expect(JSON.stringify(entries)).not.toContain("s3cret");
    expect((await w.get("/v1/org", { key: pk.key })).status).toBe(401);
  });
});

describe("deleting a project cannot race other changes to it", () => {
  it("changes racing a deletion either land before it or get 404, and nothing follows project.deleted", async () => {
    const o = await newOrg(w);
    const p = await newProject(w, o.key);
    const patches = Array.from({ length: 12 }, (_, i) => w.patch(`/v1/projects/${p.id}`, { name: `n${i}` }, { key: o.key }));
    const deletion = w.delete(`/v1/projects/${p.id}`, { key: o.key });
    const results = await Promise.all([...patches, deletion]);
    expect(results.at(-1).status).toBe(200);
    const patched = results.slice(0, -1);
    for (const r of patched) expect([200, 404]).toContain(r.status);
    const db = await w.d1();
    const chain = (await db.prepare("SELECT seq, action FROM audit_log WHERE chain = ? ORDER BY seq").bind(`project:${p.id}`).all()).results;
    expect(chain.at(-1).action).toBe("project.deleted");
    expect(chain.filter((e) => e.action === "project.updated").length).toBe(patched.filter((r) => r.status === 200).length);
    const org = (await db.prepare("SELECT action, target FROM audit_log WHERE chain = ? ORDER BY seq").bind(`org:${o.org.id}`).all()).results;
    expect(org.filter((e) => e.action === "project.deleted" && e.target === `project:${p.id}`).length).toBe(1);
  });

  it("a key for a project created while it is deleted is refused, never left active for a deleted project", async () => {
    const o = await newOrg(w);
    const p = await newProject(w, o.key);
    const creations = Array.from({ length: 6 }, () => w.post("/v1/keys", { name: "k", environment: "live", capability: "read", project_id: p.id }, { key: o.key }));
    const [deletion, ...created] = await Promise.all([w.delete(`/v1/projects/${p.id}`, { key: o.key }), ...creations]);
    expect(deletion.status).toBe(200);
    const db = await w.d1();
    const active = (await db.prepare("SELECT id FROM api_keys WHERE project_id = ? AND revoked_at IS NULL").bind(p.id).all()).results;
    expect(active).toEqual([]);
    for (const r of created) expect([201, 400]).toContain(r.status);
  });
});

describe("connection tests are rate-limited per project (review item 7)", () => {
  it("database tests and Stripe key checks stop at the project's budget; other projects are unaffected", async () => {
    const pw = await startWorker({ RATE_LIMIT_PROBE_PER_MINUTE: "2" });
    try {
      const o = await newOrg(pw);
      const [a, b] = [await newProject(pw, o.key), await newProject(pw, o.key)];
      for (const p of [a, b]) {
        const r = await pw.put(`/v1/projects/${p.id}/integrations/database`, { read_url: "postgres://u:p@127.0.0.1:1/db" }, { key: o.key });
        expect(r.status, r.text).toBe(200);
      }
      const probe = (p) => pw.post(`/v1/projects/${p.id}/integrations/database/test`, undefined, { key: o.key });
      expect((await probe(a)).status).toBe(200);
      expect((await probe(a)).status).toBe(200);
      const third = await probe(a);
      expect(errorOf(third)).toMatchObject({ status: 429, code: "rate_limited" });
      expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
      // PUT stripe checks the key with Stripe: the same budget.
      const oracle = await pw.put(`/v1/projects/${a.id}/integrations/stripe`, { api_key: "rk_live_" + "x".repeat(24) }, { key: o.key });
      expect(errorOf(oracle)).toMatchObject({ status: 429 });
      expect((await probe(b)).status).toBe(200);
    } finally {
      await pw.dispose();
    }
  });
});
