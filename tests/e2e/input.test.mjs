// Bad input never panics, never 500s and never changes state (SPEC §12).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker } from "./harness.mjs";
import { errorOf, newKey, newOrg, newProject } from "./fixtures.mjs";

let w;
let o;
let pid;
beforeAll(async () => {
  w = await startWorker();
  o = await newOrg(w);
  pid = (await newProject(w, o.key)).id;
});
afterAll(async () => w?.dispose());

const json = { "content-type": "application/json" };

describe("bad bodies", () => {
  it("malformed JSON is a 400 invalid_json", async () => {
    for (const raw of ["{", "{\"name\":}", "nope", "{\"name\":\"a\"}}", ""]) {
      const r = await w.request("POST", "/v1/projects", { key: o.key, raw, headers: json });
      expect(errorOf(r), raw).toMatchObject({ status: 400, code: "invalid_json" });
    }
  });

  it("invalid UTF-8 is a 400 invalid_utf8", async () => {
    const raw = Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    const r = await w.request("POST", "/v1/projects", { key: o.key, raw, headers: json });
    expect(errorOf(r)).toMatchObject({ status: 400, code: "invalid_utf8" });
  });

  it("wrong types and unknown fields name the field at fault", async () => {
    const cases = [
      [{ name: 42 }, "name"],
      [{ name: "x", environment: "prod" }, "environment"],
      [{ name: "x", is_admin: true }, "body"], // unknown names are not echoed
      [{}, "name"],
    ];
    for (const [body, field] of cases) {
      const r = await w.post("/v1/projects", body, { key: o.key });
      expect(errorOf(r)).toMatchObject({ status: 400, code: "invalid_field" });
      expect(r.json.error.field).toBe(field);
    }
    const r = await w.patch(`/v1/projects/${pid}`, { reconcile_every_minutes: "often" }, { key: o.key });
    expect(r.json.error.field).toBe("reconcile_every_minutes");
  });

  it("a body over 64 KiB is a 413, declared or streamed", async () => {
    const big = JSON.stringify({ name: "x".repeat(70 * 1024) });
    const r = await w.request("POST", "/v1/projects", { key: o.key, raw: big, headers: json });
    expect(errorOf(r)).toMatchObject({ status: 413, code: "payload_too_large" });
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream({
      pull(c) {
        if (sent++ < 8) c.enqueue(chunk);
        else c.close();
      },
    });
    const s = await w.mf.dispatchFetch(`http://localhost/v1/projects`, {
      method: "POST",
      headers: { authorization: `Bearer ${o.key}`, ...json },
      body: stream,
      duplex: "half",
    });
    expect(s.status).toBe(413);
    expect((await s.json()).error.code).toBe("payload_too_large");
  });

  it("garbage on every write route never produces a 500 or a change", async () => {
    const before = (await w.get(`/v1/projects/${pid}/audit`, { key: o.key })).json.data.length;
    const garbage = ["[]", "null", "1", "\"s\"", "{\"a\":{\"b\":[1,2,{}]}}", "\u0000", "{\"name\":null}", "{\"role\":[\"admin\"]}"];
    const routes = [
      ["POST", "/v1/projects"],
      ["PATCH", `/v1/projects/${pid}`],
      ["POST", "/v1/keys"],
      ["POST", "/v1/org/members"],
      ["PATCH", `/v1/org/members/${o.owner.id}`],
      ["PUT", `/v1/projects/${pid}/members/${o.owner.id}`],
      ["POST", `/v1/keys/${o.keyId}/rotate`],
    ];
    for (const [m, p] of routes) {
      for (const raw of garbage) {
        const r = await w.request(m, p, { key: o.key, raw, headers: json });
        expect(r.status, `${m} ${p} ${raw}`).toBeGreaterThanOrEqual(400);
        expect(r.status, `${m} ${p} ${raw}`).toBeLessThan(500);
        errorOf(r);
      }
    }
    expect((await w.get(`/v1/projects/${pid}/audit`, { key: o.key })).json.data.length).toBe(before);
    expect((await w.get("/v1/org", { key: o.key })).status).toBe(200);
  });
});

describe("routes", () => {
  it("unknown routes are 404 and wrong methods 405, both in the error shape", async () => {
    // Outside the API a path that is no file is the dashboard's page (it shows its own not-found view).
    const page = await w.get("/nope");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(errorOf(await w.get("/v1/nope", { key: o.key }))).toMatchObject({ status: 404, code: "no_route" });
    expect(errorOf(await w.request("PUT", "/v1/org", { key: o.key }))).toMatchObject({ status: 405, code: "method_not_allowed" });
    // An operator path says nothing (not even 405) without the operator token.
    expect(errorOf(await w.get("/v1/operator/orgs"))).toMatchObject({ status: 401, code: "invalid_operator_token" });
  });
});

describe("unauthenticated surfaces", () => {
  it("security.txt has the RFC 9116 fields and expires within a year", async () => {
    const r = await w.get("/.well-known/security.txt");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    for (const f of ["Contact", "Expires", "Policy", "Preferred-Languages", "Canonical"]) {
      expect(r.text).toMatch(new RegExp(`^${f}: \\S+`, "m"));
    }
    const expires = Date.parse(/^Expires: (.*)$/m.exec(r.text)[1]);
    expect(expires).toBeGreaterThan(Date.now());
    expect(expires - Date.now()).toBeLessThan(365 * 86400_000);
    expect(r.text).toContain("Canonical: http://localhost/.well-known/security.txt");
    const policy = new URL(/^Policy: (.*)$/m.exec(r.text)[1]);
    const p = await w.get(policy.pathname);
    expect(p.status).toBe(200);
    expect(p.text).toContain(/^Contact: mailto:(.*)$/m.exec(r.text)[1]);
  });

  it("every response carries a request id and no-store", async () => {
    const r = await w.get("/healthz");
    expect(r.headers.get("x-request-id")).toMatch(/^req_/);
    expect(r.headers.get("cache-control")).toBe("no-store");
  });
});

describe("webhook endpoints of a deployment that allows no private address", () => {
  it("refuses loopback, private and plain-http URLs in a test project too, and unknown fields", async () => {
    const test = (await newKey(w, o.key, { environment: "test" })).key;
    const p = await newProject(w, test);
    const at = `/v1/projects/${p.id}/webhook-endpoints`;
    for (const url of ["http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://192.168.1.2/hook", "http://hooks.example.com/x"]) {
      const r = await w.post(at, { url }, { key: test });
      expect([r.status, r.json.error?.field], url).toEqual([400, "url"]);
    }
    const extra = await w.post(at, { url: "https://hooks.example.com/x", grace_seconds: 5 }, { key: test });
    expect([extra.status, extra.json.error?.field]).toEqual([400, "body"]);
    const oversized = await w.post(at, { url: `https://hooks.example.com/${"a".repeat(70_000)}` }, { key: test });
    expect(errorOf(oversized)).toMatchObject({ status: 413 });
    expect((await w.get(at, { key: test })).json.data).toEqual([]);
  });
});
