import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { startWorker } from "./harness.mjs";
import { addMember, canonical, errorOf, newKey, newOrg, newProject } from "./fixtures.mjs";

function entryHash(e) {
  const { hash, ...body } = e;
  return createHash("sha256").update(canonical(body)).digest("hex");
}
const GENESIS = "0".repeat(64);

async function allEntries(w, key, path) {
  const out = [];
  let after = 0;
  for (;;) {
    const r = await w.get(`${path}?after_seq=${after}&limit=100`, { key });
    expect(r.status, r.text).toBe(200);
    out.push(...r.json.data);
    if (!r.json.next_cursor) return out;
    after = r.json.next_cursor;
  }
}

let w;
let o;
beforeAll(async () => {
  w = await startWorker();
  o = await newOrg(w);
});
afterAll(async () => w?.dispose());

describe("the reference canonical JSON", () => {
  it("sorts keys by their UTF-8 bytes, where UTF-16 order would differ", () => {
    // U+FFFF is EF BF BF in UTF-8 and sorts before U+10000 (F0 90 80 80); in UTF-16 it sorts after.
    expect(canonical({ "\u{10000}": 1, "\uffff": 2, z: 3, "é": 4 })).toBe('{"z":3,"é":4,"\uffff":2,"\u{10000}":1}');
  });
});

describe("the audit chain", () => {
  it("records every state change with the documented fields, and the hashes follow the README", async () => {
    const m = await addMember(w, o.key, "member");
    await w.patch(`/v1/org/members/${m.id}`, { role: "admin" }, { key: o.key });
    const k = await newKey(w, o.key, { capability: "read" });
    await w.post(`/v1/keys/${k.id}/rotate`, { grace_seconds: 60 }, { key: o.key });
    await w.delete(`/v1/keys/${k.id}`, { key: o.key });
    const p = await newProject(w, o.key);
    await w.patch(`/v1/projects/${p.id}`, { name: "Renamed" }, { key: o.key });
    await w.put(`/v1/projects/${p.id}/members/${m.id}`, { role: "member" }, { key: o.key });
    await w.delete(`/v1/org/members/${m.id}`, { key: o.key });

    const org = await allEntries(w, o.key, "/v1/org/audit");
    expect(org.map((e) => e.action)).toEqual([
      "org.created",
      "member.added",
      "key.created",
      "member.added",
      "member.updated",
      "key.created",
      "key.rotated",
      "key.revoked",
      "member.removed",
    ]);
    const project = await allEntries(w, o.key, `/v1/projects/${p.id}/audit`);
    expect(project.map((e) => e.action)).toEqual(["project.created", "project.updated", "project.member_role_set"]);
    expect(project[1].before.name).not.toBe("Renamed");
    expect(project[1].after.name).toBe("Renamed");

    for (const chain of [org, project]) {
      chain.forEach((e, i) => {
        expect(Object.keys(e).sort()).toEqual(["action", "actor", "after", "at", "before", "hash", "prev_hash", "seq", "target"]);
        expect(e.seq).toBe(i + 1);
        expect(e.prev_hash).toBe(i === 0 ? GENESIS : chain[i - 1].hash);
        expect(e.hash).toBe(entryHash(e));
        expect(e.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      });
    }
    expect(org[0].actor).toBe("operator");
    expect(org[3].actor).toBe(`member:${o.owner.id}/key:${o.keyId}`);
    // No secret in the chain: a created key appears by its public fields only.
    expect(JSON.stringify(org)).not.toContain(k.key.slice(8, 51));

    const v = await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key });
    expect(v.json).toEqual({ ok: true, entries: 3, head_seq: 3, head_hash: project[2].hash });
  });

  it("concurrent changes never fork the chain", async () => {
    const p = await newProject(w, o.key);
    const n = 20;
    const rs = await Promise.all(
      Array.from({ length: n }, (_, i) => w.patch(`/v1/projects/${p.id}`, { name: `concurrent ${i}` }, { key: o.key })),
    );
    expect(rs.map((r) => r.status)).toEqual(Array(n).fill(200));
    const entries = await allEntries(w, o.key, `/v1/projects/${p.id}/audit`);
    expect(entries.length).toBe(n + 1);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 1));
    // Each update's `before` is exactly the previous update's `after`: no lost or forked write.
    for (let i = 2; i < entries.length; i++) expect(entries[i].before).toEqual(entries[i - 1].after);
    const v = await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key });
    expect(v.json).toMatchObject({ ok: true, entries: n + 1, head_seq: n + 1 });
  });

  it("concurrent revocations and rotations of one key record exactly one change", async () => {
    const a = await newKey(w, o.key);
    const revokes = await Promise.all(Array.from({ length: 8 }, () => w.delete(`/v1/keys/${a.id}`, { key: o.key })));
    expect(revokes.map((r) => r.status)).toEqual(Array(8).fill(200));
    const b = await newKey(w, o.key);
    const rotations = await Promise.all(
      Array.from({ length: 8 }, () => w.post(`/v1/keys/${b.id}/rotate`, { grace_seconds: 0 }, { key: o.key })),
    );
    expect(rotations.filter((r) => r.status === 201).length).toBe(1);
    expect(rotations.filter((r) => r.status === 409).every((r) => r.json.error.code === "key_inactive")).toBe(true);
    const entries = await allEntries(w, o.key, "/v1/org/audit");
    expect(entries.filter((e) => e.action === "key.revoked" && e.target === `key:${a.id}`).length).toBe(1);
    expect(entries.filter((e) => e.action === "key.rotated" && e.target === `key:${b.id}`).length).toBe(1);
    const keys = (await w.get("/v1/keys?limit=100", { key: o.key })).json.data;
    expect(keys.filter((k) => k.name === b.view.name).length).toBe(2); // the old one and exactly one successor
  });

  it("D1 itself refuses to update or delete audit entries", async () => {
    const db = await w.d1();
    await expect(db.prepare("UPDATE audit_log SET action = 'x' WHERE seq = 1").run()).rejects.toThrow(/append-only/);
    await expect(db.prepare("DELETE FROM audit_log WHERE seq = 1").run()).rejects.toThrow(/append-only/);
    const count = await db.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'x'").first();
    expect(count.n).toBe(0);
  });

  it("an append never records a time before the entry it follows", async () => {
    const p = await newProject(w, o.key);
    const path = `/v1/projects/${p.id}/audit`;
    const [first] = await allEntries(w, o.key, path);
    // Another writer (another isolate with a clock ahead) appended an entry timed in the future.
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const forged = { seq: 2, at: future, actor: "system:test", action: "test.clock_ahead", target: `project:${p.id}`, before: null, after: null, prev_hash: first.hash };
    forged.hash = entryHash(forged);
    const db = await w.d1();
    await db
      .prepare("INSERT INTO audit_log (org_id, chain, seq, project_id, at, actor, action, target, before, after, prev_hash, hash) VALUES (?, ?, 2, ?, ?, ?, ?, ?, 'null', 'null', ?, ?)")
      .bind(o.org.id, `project:${p.id}`, p.id, future, forged.actor, forged.action, forged.target, forged.prev_hash, forged.hash)
      .run();
    expect((await w.patch(`/v1/projects/${p.id}`, { name: "after the clock" }, { key: o.key })).status).toBe(200);
    const entries = await allEntries(w, o.key, path);
    expect(entries.map((e) => e.action)).toEqual(["project.created", "test.clock_ahead", "project.updated"]);
    expect(Date.parse(entries[2].at)).toBeGreaterThanOrEqual(Date.parse(future));
    expect((await w.get(`${path}/verify`, { key: o.key })).json).toMatchObject({ ok: true, entries: 3 });
  });

  it("paginates by sequence number", async () => {
    const first = await w.get("/v1/org/audit?limit=2", { key: o.key });
    expect(first.json.data.map((e) => e.seq)).toEqual([1, 2]);
    expect(first.json.next_cursor).toBe("2");
    const next = await w.get("/v1/org/audit?limit=2&after_seq=2", { key: o.key });
    expect(next.json.data.map((e) => e.seq)).toEqual([3, 4]);
    expect(errorOf(await w.get("/v1/org/audit?after_seq=abc", { key: o.key }))).toMatchObject({ status: 400 });
  });
});

describe("tampering (in a database whose triggers were dropped)", () => {
  let t;
  let to;
  let pid;
  beforeAll(async () => {
    t = await startWorker();
    to = await newOrg(t);
    pid = (await newProject(t, to.key)).id;
    for (let i = 0; i < 5; i++) await t.patch(`/v1/projects/${pid}`, { name: `v${i}` }, { key: to.key });
    const db = await t.d1();
    await db.prepare("DROP TRIGGER audit_log_no_update").run();
    await db.prepare("DROP TRIGGER audit_log_no_delete").run();
  });
  afterAll(async () => t?.dispose());

  const chain = () => `project:${pid}`;

  it("an altered entry is named by its sequence number", async () => {
    const db = await t.d1();
    const before = await t.get(`/v1/projects/${pid}/audit/verify`, { key: to.key });
    expect(before.json.ok).toBe(true);
    await db.prepare(`UPDATE audit_log SET after = '{"name":"forged"}' WHERE chain = ? AND seq = 4`).bind(chain()).run();
    const r = await t.get(`/v1/projects/${pid}/audit/verify`, { key: to.key });
    expect(r.json).toMatchObject({ ok: false, first_bad_seq: 4 });
  });

  it("a recomputed hash is caught by the next entry's link", async () => {
    const db = await t.d1();
    const row = await db.prepare("SELECT * FROM audit_log WHERE chain = ? AND seq = 2").bind(chain()).first();
    const e = {
      seq: row.seq, at: row.at, actor: row.actor, action: "project.deleted", target: row.target,
      before: JSON.parse(row.before), after: JSON.parse(row.after), prev_hash: row.prev_hash,
    };
    const forged = createHash("sha256").update(canonical(e)).digest("hex");
    await db.prepare("UPDATE audit_log SET action = 'project.deleted', hash = ? WHERE chain = ? AND seq = 2").bind(forged, chain()).run();
    const r = await t.get(`/v1/projects/${pid}/audit/verify`, { key: to.key });
    expect(r.json).toMatchObject({ ok: false, first_bad_seq: 3 });
  });

  it("a deleted entry is a gap at its place", async () => {
    const db = await t.d1();
    await db.prepare("DELETE FROM audit_log WHERE chain = ? AND seq = 1").bind(chain()).run();
    const r = await t.get(`/v1/projects/${pid}/audit/verify`, { key: to.key });
    expect(r.json).toMatchObject({ ok: false, first_bad_seq: 1 });
  });
});
