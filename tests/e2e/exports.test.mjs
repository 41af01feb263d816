import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { startWorker } from "./harness.mjs";
import { canonical, errorOf, newKey, newOrg, newProject } from "./fixtures.mjs";

const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const VERIFY = process.env.PR_VERIFY_BIN ?? join(process.cwd(), "target/debug/parityrail-verify");

let w;
let o;
beforeAll(async () => {
  // One 5 MiB part (R2's smallest) per alarm step, so the large export takes several steps.
  w = await startWorker({ EXPORT_PARTS_PER_STEP: "1" });
  o = await newOrg(w);
});
afterAll(async () => w?.dispose());

/** Raw bytes of a GET (the harness decodes bodies as text). */
async function bytes(path, key) {
  const res = await w.mf.dispatchFetch(`http://localhost${path}`, {
    headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": "203.0.113.9" },
  });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function until(f, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function finished(pid, eid, key = o.key) {
  return until(async () => {
    await new Promise((r) => setTimeout(r, 100));
    const r = await w.get(`/v1/projects/${pid}/exports/${eid}`, { key });
    expect(r.status, r.text).toBe(200);
    return r.json.status !== "running" && r.json;
  }, 50000);
}

/** Appends `n` entries to a project chain straight into D1, hashed as the README says. */
async function appendEntries(pid, n, pad = 100) {
  const db = await w.d1();
  const chain = `project:${pid}`;
  const head = await db.prepare("SELECT seq, hash, at FROM audit_log WHERE chain = ? ORDER BY seq DESC LIMIT 1").bind(chain).first();
  let seq = head?.seq ?? 0;
  let prev = head?.hash ?? "0".repeat(64);
  // Plain SQL in a few `exec` calls (not thousands of bound statements through Miniflare's
  // synchronous proxy, which gives way under load).
  const lit = (v) => (typeof v === "number" ? String(v) : `'${String(v).replaceAll("'", "''")}'`);
  const rows = [];
  for (let i = 0; i < n; i++) {
    seq += 1;
    const e = {
      seq,
      at: head?.at ?? "2026-12-02T00:00:00.000Z",
      actor: "system:cron",
      action: i % 2 ? "incident.opened" : "repair.executed",
      target: `customer:cus_${i}`,
      before: { note: `a, "quoted"\nline ${i}` },
      after: { i, pad: "x".repeat(pad) },
      prev_hash: prev,
    };
    e.hash = sha256(canonical(e));
    prev = e.hash;
    const values = [chain, e.seq, o.org.id, pid, e.at, e.actor, e.action, e.target, JSON.stringify(e.before), JSON.stringify(e.after), e.prev_hash, e.hash];
    rows.push(`INSERT INTO audit_log (chain, seq, org_id, project_id, at, actor, action, target, before, after, prev_hash, hash) VALUES (${values.map(lit).join(", ")});`);
  }
  for (let i = 0; i < rows.length; i += 500) await db.exec(rows.slice(i, i + 500).join("\n"));
  return seq;
}

async function download(pid, ex, key = o.key) {
  const dir = mkdtempSync(join(tmpdir(), "bundle-"));
  for (const f of ex.files) {
    const r = await bytes(`/v1/projects/${pid}/exports/${ex.id}/files/${f.name}`, key);
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(f.bytes);
    expect(sha256(r.body)).toBe(f.sha256);
    writeFileSync(join(dir, f.name), r.body);
  }
  const pem = await w.get("/v1/org/signing-key", { key });
  writeFileSync(join(dir, "key.pem"), pem.text);
  return dir;
}

function opensslVerify(dir, manifest = "manifest.json") {
  return spawnSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", join(dir, "key.pem"), "-rawin", "-in", join(dir, manifest), "-sigfile", join(dir, "manifest.sig")], { encoding: "utf8" });
}

describe("the org signing key", () => {
  it("is made on first need, served as a PEM that OpenSSL reads, and stays the same", async () => {
    const a = await w.get("/v1/org/signing-key", { key: o.key });
    expect(a.status, a.text).toBe(200);
    expect(a.headers.get("content-type")).toBe("application/x-pem-file");
    expect(a.text).toMatch(/^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$/);
    const dir = mkdtempSync(join(tmpdir(), "key-"));
    writeFileSync(join(dir, "key.pem"), a.text);
    const text = execFileSync("openssl", ["pkey", "-pubin", "-in", join(dir, "key.pem"), "-text", "-noout"], { encoding: "utf8" });
    expect(text).toContain("ED25519 Public-Key");
    const der = execFileSync("openssl", ["pkey", "-pubin", "-in", join(dir, "key.pem"), "-outform", "DER"]);
    const j = await w.get("/v1/org/signing-key", { key: o.key, headers: { accept: "application/json" } });
    expect(j.json).toMatchObject({ algorithm: "Ed25519", pem: a.text, sha256: sha256(der) });
    // A read key sees the same key; another org has its own.
    const read = await newKey(w, o.key, { capability: "read" });
    expect((await w.get("/v1/org/signing-key", { key: read.key })).text).toBe(a.text);
    const other = await newOrg(w);
    expect((await w.get("/v1/org/signing-key", { key: other.key })).text).not.toBe(a.text);
    // Made once, audited once on the org chain; the private half is sealed (no PEM, no raw seed).
    const audit = await w.get("/v1/org/audit?limit=100", { key: o.key });
    expect(audit.json.data.filter((e) => e.action === "signing_key.created")).toHaveLength(1);
    const row = await (await w.d1()).prepare("SELECT sealed, public_key FROM signing_keys WHERE org_id = ?").bind(o.org.id).first();
    expect(Buffer.from(row.sealed, "base64")[0]).toBe(2); // vault format v2, not a key in clear
    expect(row.sealed).not.toContain("MC4CAQAwBQYDK2Vw"); // no PKCS #8 in clear
    expect(Buffer.from(row.public_key, "base64").equals(der.subarray(12))).toBe(true);
  });

  it("needs a key", async () => {
    expect((await w.get("/v1/org/signing-key")).status).toBe(401);
  });
});

describe("export bundles", () => {
  let p;
  let head;
  beforeAll(async () => {
    p = await newProject(w, o.key);
    for (let i = 0; i < 5; i++) await w.patch(`/v1/projects/${p.id}`, { name: `Name ${i}` }, { key: o.key });
    // About 12 MiB of JSONL: three parts of each file.
    head = await appendEntries(p.id, 5000, 2200);
  });

  it("writes the whole chain in parts, signed, and OpenSSL and the offline verifier accept it", async () => {
    const r = await w.post(`/v1/projects/${p.id}/exports`, { format: "both" }, { key: o.key });
    expect(r.status, r.text).toBe(202);
    // Before it is written, its files are not there yet.
    const early = await w.get(`/v1/projects/${p.id}/exports/${r.json.id}/files/entries.jsonl`, { key: o.key });
    expect([200, 409]).toContain(early.status);
    if (early.status === 409) expect(errorOf(early).code).toBe("export_running");
    expect(r.json).toMatchObject({ status: "running", format: "both", range: { from_seq: 1, to_seq: head, actions: null } });
    const ex = await finished(p.id, r.json.id);
    expect(ex.status, JSON.stringify(ex)).toBe("succeeded");
    expect(ex.count).toBe(head);
    expect(ex.files.map((f) => f.name)).toEqual(["entries.jsonl", "entries.csv", "manifest.json", "manifest.sig"]);
    const jsonl = ex.files.find((f) => f.name === "entries.jsonl");
    expect(jsonl.bytes).toBeGreaterThan(2 * 5 * 1048576);

    const dir = await download(p.id, ex);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({ org: o.org.id, project: p.id, environment: p.environment, chain: `project:${p.id}`, count: head, range: { from_seq: 1, to_seq: head } });
    expect(["live", "test"]).toContain(manifest.environment);
    expect(manifest.first.seq).toBe(1);
    expect(manifest.last.seq).toBe(head);
    expect(manifest.files.find((f) => f.name === "entries.csv").sha256).toBe(sha256(readFileSync(join(dir, "entries.csv"))));
    // Every entry hashes as the README says, and links to the one before.
    const lines = readFileSync(join(dir, "entries.jsonl"), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(head);
    lines.forEach((e, i) => {
      const { hash, ...body } = e;
      expect(sha256(canonical(body))).toBe(hash);
      if (i > 0) expect(e.prev_hash).toBe(lines[i - 1].hash);
    });

    const ok = opensslVerify(dir);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("Signature Verified Successfully");
    const m = readFileSync(join(dir, "manifest.json"));
    m[20] ^= 1;
    writeFileSync(join(dir, "tampered.json"), m);
    const bad = opensslVerify(dir, "tampered.json");
    expect(bad.status).not.toBe(0);

    expect(existsSync(VERIFY), `build ${VERIFY} first (cargo build -p parityrail-verify)`).toBe(true);
    const v = spawnSync(VERIFY, [dir, "--key", join(dir, "key.pem")], { encoding: "utf8" });
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, signature_ok: true, entries_checked: head });
    // One entry altered in the CSV: the verifier names it.
    const csv = readFileSync(join(dir, "entries.csv"), "utf8").replace("cus_17,", "cus_18,");
    writeFileSync(join(dir, "entries.csv"), csv);
    const t = spawnSync(VERIFY, [dir, "--key", join(dir, "key.pem")], { encoding: "utf8", maxBuffer: 1 << 24 });
    expect(t.status).toBe(1);
    const what = JSON.parse(t.stdout).problems.map((x) => x.what);
    expect(what).toContain("file_hash");
    expect(what).toContain("entry_hash");

    // Created, completed and each download are on the project chain.
    const audit = await w.get(`/v1/projects/${p.id}/audit?after_seq=${head}&limit=100`, { key: o.key });
    const actions = audit.json.data.map((e) => e.action);
    expect(actions).toContain("export.completed");
    expect(actions.filter((a) => a === "export.downloaded")).toHaveLength(4);
    const created = (await w.get(`/v1/projects/${p.id}/audit?after_seq=${head}&limit=100`, { key: o.key })).json.data;
    expect(created.find((e) => e.action === "export.downloaded").actor).toMatch(/^member:mem_/);
  }, 150_000);

  it("selects a range by sequence number or time, and by action", async () => {
    const r = await w.post(`/v1/projects/${p.id}/exports`, { from: 3, to: 40, actions: ["repair.executed"], format: "jsonl" }, { key: o.key });
    expect(r.status, r.text).toBe(202);
    const ex = await finished(p.id, r.json.id);
    expect(ex.status).toBe("succeeded");
    const dir = await download(p.id, ex);
    const lines = readFileSync(join(dir, "entries.jsonl"), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBe(ex.count);
    expect(lines.every((e) => e.action === "repair.executed" && e.seq >= 3 && e.seq <= 40)).toBe(true);
    const v = spawnSync(VERIFY, [dir, "--key", join(dir, "key.pem")], { encoding: "utf8" });
    expect(v.status, v.stdout).toBe(0);

    const t = await w.post(`/v1/projects/${p.id}/exports`, { from: "2000-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z", format: "csv" }, { key: o.key });
    const tx = await finished(p.id, t.json.id);
    expect(tx.range.from_seq).toBe(1);
    expect(tx.files.map((f) => f.name)).toEqual(["entries.csv", "manifest.json", "manifest.sig"]);
    // A range past the head stops at the head; an empty range is an empty, signed bundle.
    const e = await w.post(`/v1/projects/${p.id}/exports`, { from: 100000, format: "jsonl" }, { key: o.key });
    const ee = await finished(p.id, e.json.id);
    expect(ee).toMatchObject({ status: "succeeded", count: 0 });
  });

  it("refuses bad input field by field, and keeps other tenants and read keys out", async () => {
    for (const [body, field] of [
      [{ from: 0 }, "from"],
      [{ from: 9, to: 2 }, "to"],
      [{ format: "xml" }, "format"],
      [{ actions: ["x"] }, "actions"],
      [{ to: "tomorrow" }, "to"],
    ]) {
      const r = await w.post(`/v1/projects/${p.id}/exports`, body, { key: o.key });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(errorOf(r).code).toBe("invalid_field");
      expect(r.json.error.field).toBe(field);
    }
    expect((await w.post(`/v1/projects/${p.id}/exports`, { format: "jsonl", sneaky: 1 }, { key: o.key })).status).toBe(400);
    // A sequence number past 2^53 - 1 is refused (it would not survive D1 or a JavaScript number).
    const huge = await w.post(`/v1/projects/${p.id}/exports`, { from: 18446744073709551615n.toString() }, { key: o.key });
    expect(huge.status).toBe(400);
    expect(huge.json.error.field).toBe("from");
    const big = await w.request("POST", `/v1/projects/${p.id}/exports`, { key: o.key, raw: "{" + " ".repeat(70000) + "}", headers: { "content-type": "application/json" } });
    expect(big.status).toBe(413);

    const ex = (await w.get(`/v1/projects/${p.id}/exports?limit=1`, { key: o.key })).json.data[0];
    const read = await newKey(w, o.key, { capability: "read" });
    expect((await w.post(`/v1/projects/${p.id}/exports`, {}, { key: read.key })).status).toBe(403);
    expect((await w.get(`/v1/projects/${p.id}/exports/${ex.id}`, { key: read.key })).status).toBe(200);

    const other = await newOrg(w);
    const op = await newProject(w, other.key);
    for (const path of [
      `/v1/projects/${p.id}/exports/${ex.id}`,
      `/v1/projects/${p.id}/exports/${ex.id}/files/manifest.json`,
      `/v1/projects/${op.id}/exports/${ex.id}`,
      `/v1/projects/${op.id}/exports/${ex.id}/files/manifest.json`,
    ]) {
      const r = await w.get(path, { key: other.key });
      expect(r.status, path).toBe(404);
    }
    for (const path of [`/v1/projects/${p.id}/exports/exp_nope`, `/v1/projects/${p.id}/exports/${ex.id}/files/..%2F..%2Fsecrets`, `/v1/projects/${p.id}/exports/${ex.id}/files/key.pem`]) {
      expect((await w.get(path, { key: o.key })).status, path).toBe(404);
    }
  });
});

describe("signed checkpoints", () => {
  it("are signed by the cron, quoted in manifests, and catch a deleted tail", async () => {
    const p = await newProject(w, o.key);
    for (let i = 0; i < 6; i++) await w.patch(`/v1/projects/${p.id}`, { name: `N${i}` }, { key: o.key });
    await w.scheduled();
    const chain = `project:${p.id}`;
    const r2 = await w.mf.getR2Bucket("EXPORTS");
    const obj = await r2.get(`checkpoints/${o.org.id}/${chain}.json`);
    expect(obj).not.toBeNull();
    const cp = JSON.parse(await obj.text());
    const head = (await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key })).json;
    expect(cp.checkpoint).toMatchObject({ chain, size: head.head_seq, head_hash: head.head_hash, environment: p.environment });
    expect(["live", "test"]).toContain(cp.checkpoint.environment);
    expect(head.checkpoint).toMatchObject({ size: cp.checkpoint.size, head_hash: cp.checkpoint.head_hash });
    // The checkpoint's signature verifies with stock OpenSSL over its canonical form.
    const dir = mkdtempSync(join(tmpdir(), "cp-"));
    writeFileSync(join(dir, "key.pem"), (await w.get("/v1/org/signing-key", { key: o.key })).text);
    writeFileSync(join(dir, "cp.json"), canonical(cp.checkpoint));
    writeFileSync(join(dir, "manifest.sig"), Buffer.from(cp.signature, "base64"));
    expect(opensslVerify(dir, "cp.json").status).toBe(0);

    // A bundle written now quotes it.
    const ex = await finished(p.id, (await w.post(`/v1/projects/${p.id}/exports`, { format: "jsonl" }, { key: o.key })).json.id);
    const bdir = await download(p.id, ex);
    const manifest = JSON.parse(readFileSync(join(bdir, "manifest.json"), "utf8"));
    expect(manifest.checkpoint.checkpoint).toEqual(cp.checkpoint);
    const v = spawnSync(VERIFY, [bdir, "--key", join(bdir, "key.pem")], { encoding: "utf8" });
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, checkpoint_covered: true });

    // Someone with write access to D1 drops the append-only triggers and deletes the newest
    // entries: every remaining entry still hashes and links, but the checkpoint is longer.
    const db = await w.d1();
    await db.exec("DROP TRIGGER audit_log_no_delete");
    try {
      await db.prepare("DELETE FROM audit_log WHERE chain = ? AND seq > ?").bind(chain, cp.checkpoint.size - 2).run();
      const after = (await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key })).json;
      expect(after).toMatchObject({ ok: false, reason: "truncated", first_bad_seq: cp.checkpoint.size - 1, entries_checked: cp.checkpoint.size - 2 });
      // The cron does not sign the shorter chain over it.
      await w.scheduled();
      const still = JSON.parse(await (await r2.get(`checkpoints/${o.org.id}/${chain}.json`)).text());
      expect(still.checkpoint.size).toBe(cp.checkpoint.size);
    } finally {
      await db.exec("CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;");
    }
  });

  it("reports a checkpoint deleted, put back older, or taken from another chain, and signs nothing over it", async () => {
    const r2 = await w.mf.getR2Bucket("EXPORTS");
    const p = await newProject(w, o.key);
    const q = await newProject(w, o.key);
    const key = (pid) => `checkpoints/${o.org.id}/project:${pid}.json`;
    await w.scheduled();
    const first = await (await r2.get(key(p.id))).text();
    await w.patch(`/v1/projects/${p.id}`, { name: "Later" }, { key: o.key });
    await w.scheduled();
    const second = JSON.parse(await (await r2.get(key(p.id))).text());
    expect(second.checkpoint.size).toBeGreaterThan(JSON.parse(first).checkpoint.size);
    const verify = async () => (await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key })).json;
    expect(await verify()).toMatchObject({ ok: true, checkpoint: { size: second.checkpoint.size } });

    await r2.put(key(p.id), first); // an older, validly signed checkpoint put back
    expect(await verify()).toMatchObject({ ok: false, reason: "checkpoint_rollback" });
    await r2.put(key(p.id), await (await r2.get(key(q.id))).text()); // another chain's
    expect(await verify()).toMatchObject({ ok: false, reason: "checkpoint_signature" });
    await r2.delete(key(p.id));
    expect(await verify()).toMatchObject({ ok: false, reason: "checkpoint_missing" });
    // The cron does not start the chain again from nothing, and an export refuses to sign.
    await w.patch(`/v1/projects/${p.id}`, { name: "Later still" }, { key: o.key });
    await w.scheduled();
    expect(await r2.get(key(p.id))).toBeNull();
    const ex = await finished(p.id, (await w.post(`/v1/projects/${p.id}/exports`, {}, { key: o.key })).json.id);
    expect(ex).toMatchObject({ status: "failed" });
    expect(ex.error).toContain("checkpoint_missing");
    expect(w.logs.join("")).toContain("checkpoint_missing");
  });

  it("refuses to export a chain that does not verify, at once and saying where", async () => {
    const p = await newProject(w, o.key);
    for (let i = 0; i < 4; i++) await w.patch(`/v1/projects/${p.id}`, { name: `T${i}` }, { key: o.key });
    const db = await w.d1();
    await db.exec("DROP TRIGGER audit_log_no_update");
    try {
      await db.prepare("UPDATE audit_log SET after = ? WHERE chain = ? AND seq = 3").bind('{"name":"forged"}', `project:${p.id}`).run();
    } finally {
      await db.exec("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;");
    }
    const r = await w.post(`/v1/projects/${p.id}/exports`, { actions: ["export.created"] }, { key: o.key });
    const ex = await finished(p.id, r.json.id);
    expect(ex).toMatchObject({ status: "failed", files: [] });
    expect(ex.error).toContain("does not verify at entry 3");
    const r2 = await w.mf.getR2Bucket("EXPORTS");
    expect(await r2.get(`exports/${o.org.id}/${p.id}/${ex.id}/manifest.json`)).toBeNull();
  });

  it("reports a checkpoint whose signature does not verify", async () => {
    const p = await newProject(w, o.key);
    await w.scheduled();
    const chain = `project:${p.id}`;
    const r2 = await w.mf.getR2Bucket("EXPORTS");
    const cp = JSON.parse(await (await r2.get(`checkpoints/${o.org.id}/${chain}.json`)).text());
    cp.checkpoint.size += 5;
    await r2.put(`checkpoints/${o.org.id}/${chain}.json`, JSON.stringify(cp));
    const r = (await w.get(`/v1/projects/${p.id}/audit/verify`, { key: o.key })).json;
    expect(r).toMatchObject({ ok: false, reason: "checkpoint_signature" });
  });
});
