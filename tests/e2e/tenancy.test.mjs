import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATOR_TOKEN, startWorker } from "./harness.mjs";
import { addMember, errorOf, newKey, newOrg, newProject } from "./fixtures.mjs";

let w;
beforeAll(async () => {
  w = await startWorker();
});
afterAll(async () => w?.dispose());

describe("orgs and members", () => {
  it("bootstrap creates the org, its owner and an owner key that works", async () => {
    const o = await newOrg(w, "Acme Inc");
    expect(o.org).toMatchObject({ name: "Acme Inc" });
    expect(o.org.id).toMatch(/^org_[0-9A-Za-z]{22}$/);
    expect(o.owner.role).toBe("owner");
    const r = await w.get("/v1/org", { key: o.key });
    expect(r.json).toEqual(o.org);
    const members = await w.get("/v1/org/members", { key: o.key });
    expect(members.json.data).toEqual([o.owner]);
  });

  it("bootstrap validates its input", async () => {
    const { OPERATOR_TOKEN } = await import("./harness.mjs");
    const r = await w.post("/v1/operator/orgs", { name: "X", owner_email: "not-an-email" }, { key: OPERATOR_TOKEN });
    expect(errorOf(r)).toMatchObject({ status: 400, code: "invalid_field" });
    expect(r.json.error.field).toBe("owner_email");
  });

  it("members are added once per e-mail and never as a second owner", async () => {
    const o = await newOrg(w);
    const m = await addMember(w, o.key, "admin");
    const dup = await w.post("/v1/org/members", { email: m.email.toUpperCase(), role: "member" }, { key: o.key });
    expect(errorOf(dup)).toMatchObject({ status: 409, code: "member_exists" });
    const owner = await w.post("/v1/org/members", { email: "z@example.com", role: "owner" }, { key: o.key });
    expect(errorOf(owner)).toMatchObject({ status: 400, code: "invalid_field" });
  });

  it("only the owner transfers ownership, and afterwards there is exactly one owner", async () => {
    const o = await newOrg(w);
    const admin = await addMember(w, o.key, "admin");
    const adminKey = (await newKey(w, o.key, { member_id: admin.id })).key;
    expect(errorOf(await w.patch(`/v1/org/members/${admin.id}`, { role: "owner" }, { key: adminKey }))).toMatchObject({ status: 403 });
    expect(errorOf(await w.patch(`/v1/org/members/${o.owner.id}`, { role: "member" }, { key: adminKey }))).toMatchObject({ status: 403 });
    expect(errorOf(await w.delete(`/v1/org/members/${o.owner.id}`, { key: adminKey }))).toMatchObject({ status: 409 });
    const t = await w.patch(`/v1/org/members/${admin.id}`, { role: "owner" }, { key: o.key });
    expect(t.status, t.text).toBe(200);
    const members = (await w.get("/v1/org/members", { key: adminKey })).json.data;
    expect(members.filter((m) => m.role === "owner").map((m) => m.id)).toEqual([admin.id]);
    expect(members.find((m) => m.id === o.owner.id).role).toBe("admin");
    // The new owner can now delete projects; the old one cannot. The key the old owner minted
    // for the new one acts as member at most now (what its demoted minter can grant), so it
    // mints nothing: the new owner's uncapped key comes from the operator.
    const p = await newProject(w, o.key);
    expect(errorOf(await w.delete(`/v1/projects/${p.id}`, { key: o.key }))).toMatchObject({ status: 403 });
    expect(errorOf(await w.delete(`/v1/projects/${p.id}`, { key: adminKey }))).toMatchObject({ status: 403 });
    expect(errorOf(await w.post("/v1/keys", { name: "k", environment: "live", capability: "repair" }, { key: adminKey }))).toMatchObject({ status: 403 });
    const issued = await w.post(`/v1/operator/orgs/${o.org.id}/owner-key`, {}, { key: OPERATOR_TOKEN });
    expect((await w.delete(`/v1/projects/${p.id}`, { key: issued.json.key })).status).toBe(200);
  });

  it("the owner cannot step down without naming a successor", async () => {
    const o = await newOrg(w);
    expect(errorOf(await w.patch(`/v1/org/members/${o.owner.id}`, { role: "admin" }, { key: o.key }))).toMatchObject({
      status: 409,
      code: "owner_required",
    });
  });

  it("members of another org are not found", async () => {
    const a = await newOrg(w);
    const b = await newOrg(w);
    const mb = await addMember(w, b.key);
    expect(errorOf(await w.patch(`/v1/org/members/${mb.id}`, { role: "admin" }, { key: a.key }))).toMatchObject({ status: 404 });
    expect(errorOf(await w.delete(`/v1/org/members/${mb.id}`, { key: a.key }))).toMatchObject({ status: 404 });
    expect((await w.get("/v1/org/members", { key: b.key })).json.data.map((m) => m.id)).toContain(mb.id);
  });
});

describe("per-project role overrides", () => {
  it("an override makes a member admin in one project only, and clearing it takes that back", async () => {
    const o = await newOrg(w);
    const m = await addMember(w, o.key, "member");
    const k = (await newKey(w, o.key, { member_id: m.id })).key;
    const p1 = await newProject(w, o.key);
    const p2 = await newProject(w, o.key);
    expect(errorOf(await w.patch(`/v1/projects/${p1.id}`, { name: "x" }, { key: k }))).toMatchObject({ status: 403 });
    const set = await w.put(`/v1/projects/${p1.id}/members/${m.id}`, { role: "admin" }, { key: o.key });
    expect(set.status, set.text).toBe(200);
    expect((await w.patch(`/v1/projects/${p1.id}`, { name: "x" }, { key: k })).status).toBe(200);
    expect(errorOf(await w.patch(`/v1/projects/${p2.id}`, { name: "x" }, { key: k }))).toMatchObject({ status: 403 });
    await w.put(`/v1/projects/${p1.id}/members/${m.id}`, { role: null }, { key: o.key });
    expect(errorOf(await w.patch(`/v1/projects/${p1.id}`, { name: "y" }, { key: k }))).toMatchObject({ status: 403 });
  });

  it("an override can take admin powers away in one project", async () => {
    const o = await newOrg(w);
    const a = await addMember(w, o.key, "admin");
    const k = (await newKey(w, o.key, { member_id: a.id })).key;
    const p = await newProject(w, o.key);
    await w.put(`/v1/projects/${p.id}/members/${a.id}`, { role: "member" }, { key: o.key });
    expect(errorOf(await w.patch(`/v1/projects/${p.id}`, { name: "x" }, { key: k }))).toMatchObject({ status: 403 });
    expect((await w.get(`/v1/projects/${p.id}`, { key: k })).status).toBe(200);
  });

  it("the owner cannot be overridden", async () => {
    const o = await newOrg(w);
    const p = await newProject(w, o.key);
    expect(errorOf(await w.put(`/v1/projects/${p.id}/members/${o.owner.id}`, { role: "member" }, { key: o.key }))).toMatchObject({
      status: 409,
    });
  });
});

describe("projects", () => {
  it("are created, listed with pagination, read, updated and deleted", async () => {
    const o = await newOrg(w);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await newProject(w, o.key, `P${i}`)).id);
    const seen = [];
    let cursor = "";
    for (let pages = 0; pages < 10; pages++) {
      const r = await w.get(`/v1/projects?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { key: o.key });
      expect(r.status).toBe(200);
      expect(r.json.data.length).toBeLessThanOrEqual(2);
      seen.push(...r.json.data.map((p) => p.id));
      if (!r.json.next_cursor) break;
      cursor = r.json.next_cursor;
    }
    expect(seen.sort()).toEqual([...ids].sort());
    const pid = ids[0];
    const got = await w.get(`/v1/projects/${pid}`, { key: o.key });
    expect(got.json).toMatchObject({ id: pid, name: "P0", environment: "live", reconcile_every_minutes: 60, auto_approve_grants: false });
    const patched = await w.patch(`/v1/projects/${pid}`, { reconcile_every_minutes: 15, auto_approve_grants: true }, { key: o.key });
    expect(patched.json).toMatchObject({ name: "P0", reconcile_every_minutes: 15, auto_approve_grants: true });
    expect(errorOf(await w.patch(`/v1/projects/${pid}`, { reconcile_every_minutes: 1 }, { key: o.key }))).toMatchObject({ status: 400 });
    expect(errorOf(await w.patch(`/v1/projects/${pid}`, {}, { key: o.key }))).toMatchObject({ status: 400 });
    const scoped = await newKey(w, o.key, { project_id: pid });
    expect((await w.delete(`/v1/projects/${pid}`, { key: o.key })).json).toEqual({ id: pid, deleted: true });
    expect(errorOf(await w.get(`/v1/projects/${pid}`, { key: o.key }))).toMatchObject({ status: 404 });
    expect((await w.get("/v1/org", { key: scoped.key })).status).toBe(401);
  });

  it("list limits are bounded", async () => {
    const o = await newOrg(w);
    for (const bad of ["0", "101", "abc"]) {
      const r = await w.get(`/v1/projects?limit=${bad}`, { key: o.key });
      expect(errorOf(r)).toMatchObject({ status: 400, code: "invalid_field" });
      expect(r.json.error.field).toBe("limit");
    }
  });
});

describe("a freshly started worker under concurrent changes", () => {
  it("answers 20 concurrent PATCHes of one project with 200 each, twice", async () => {
    for (let round = 0; round < 2; round++) {
      const fresh = await startWorker();
      try {
        const o = await newOrg(fresh);
        const p = await newProject(fresh, o.key);
        const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => fresh.patch(`/v1/projects/${p.id}`, { name: `P${i}` }, { key: o.key })));
        expect(answers.map((r) => r.status), answers.filter((r) => r.status !== 200).map((r) => r.text).join(" ")).toEqual(Array(20).fill(200));
        const v = await fresh.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key });
        expect(v.json).toMatchObject({ ok: true });
      } finally {
        await fresh.dispose();
      }
    }
  });
});
