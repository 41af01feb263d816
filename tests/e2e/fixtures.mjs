// Test fixtures: orgs, members, keys and projects built through the public API only, plus an
// independent implementation of the key format (SPEC §2) to forge well-formed unknown keys.
import { crc32 } from "node:zlib";
import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import { OPERATOR_TOKEN } from "./harness.mjs";

const B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function base62(n, width) {
  let s = "";
  let v = BigInt(n);
  while (v > 0n) {
    s = B62[Number(v % 62n)] + s;
    v /= 62n;
  }
  return s.padStart(width, "0");
}

/** A key with the right shape and checksum that no org has. */
export function forgeKey(env = "live") {
  const body = `pr_${env}_` + base62(BigInt("0x" + randomBytes(32).toString("hex")), 43);
  return body + base62(crc32(Buffer.from(body)), 6);
}

/** True when `key` has the documented shape and a correct checksum. */
export function keyChecksumOk(key) {
  const m = /^pr_(live|test)_([0-9A-Za-z]{43})([0-9A-Za-z]{6})$/.exec(key);
  if (!m) return false;
  const body = key.slice(0, 51);
  return base62(crc32(Buffer.from(body)), 6) === m[3];
}

let counter = 0;
export function unique(prefix) {
  counter += 1;
  return `${prefix}${counter}-${randomBytes(3).toString("hex")}`;
}

/** Creates an org through the operator route: `{org, owner, key}` (key = plaintext). */
export async function newOrg(w, name = unique("Org ")) {
  const r = await w.post("/v1/operator/orgs", { name, owner_email: `${unique("owner")}@example.com` }, { key: OPERATOR_TOKEN });
  expect(r.status, r.text).toBe(201);
  return { org: r.json.org, owner: r.json.owner, key: r.json.key.key, keyId: r.json.key.id };
}

export async function addMember(w, adminKey, role = "member") {
  const r = await w.post("/v1/org/members", { email: `${unique("m")}@example.com`, role }, { key: adminKey });
  expect(r.status, r.text).toBe(201);
  return r.json;
}

export async function newKey(w, adminKey, spec = {}) {
  const r = await w.post(
    "/v1/keys",
    { name: unique("key "), environment: "live", capability: "repair", ...spec },
    { key: adminKey },
  );
  expect(r.status, r.text).toBe(201);
  return { key: r.json.key, id: r.json.id, view: r.json };
}

export async function newProject(w, key, name = unique("Project ")) {
  const r = await w.post("/v1/projects", { name }, { key });
  expect(r.status, r.text).toBe(201);
  return r.json;
}

/** A well-formed project id that exists nowhere. */
export function missingProjectId() {
  return "prj_" + base62(BigInt("0x" + randomBytes(16).toString("hex")), 22);
}

/** Asserts the SPEC §12 error shape and returns `{status, code, message}` for comparisons. */
export function errorOf(r) {
  expect(r.json, r.text).toBeTruthy();
  expect(Object.keys(r.json)).toEqual(["error"]);
  const e = r.json.error;
  expect(typeof e.code).toBe("string");
  expect(e.code).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(typeof e.message).toBe("string");
  expect(e.request_id).toMatch(/^req_[0-9A-Za-z]{22}$/);
  expect(r.headers.get("x-request-id")).toBe(e.request_id);
  return { status: r.status, code: e.code, message: e.message };
}

// The README's canonical JSON, written independently of the Rust code: sorted keys, no
// whitespace; JSON.stringify's string escaping matches the rule.
export function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    // By UTF-8 bytes (Buffer.compare), not JavaScript's UTF-16 string order.
    const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}
