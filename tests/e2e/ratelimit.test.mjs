// Rate limits (SPEC §2): per key and per client IP for failed requests, enforced in a Durable
// Object so they hold across isolates — shown by restarting the runtime on the same storage.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker } from "./harness.mjs";
import { errorOf, forgeKey, newKey, newOrg } from "./fixtures.mjs";

const LIMITS = { RATE_LIMIT_KEY_PER_MINUTE: "5", RATE_LIMIT_IP_PER_MINUTE: "3" };
let w;
let o;
beforeAll(async () => {
  w = await startWorker(LIMITS);
  o = await newOrg(w);
});
afterAll(async () => w?.dispose());

describe("rate limits", () => {
  it("a key gets its limit, then 429 with Retry-After, while another key is unaffected", async () => {
    const k = (await newKey(w, o.key)).key;
    const other = (await newKey(w, o.key)).key;
    const statuses = [];
    for (let i = 0; i < 7; i++) statuses.push((await w.get("/v1/org", { key: k, ip: `10.0.0.${i}` })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const r = await w.get("/v1/org", { key: k });
    expect(errorOf(r)).toMatchObject({ status: 429, code: "rate_limited" });
    const retry = Number(r.headers.get("retry-after"));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(12);
    expect((await w.get("/v1/org", { key: other })).status).toBe(200);
  });

  it("failed attempts from one IP lock it out, even for a valid key; other IPs are unaffected", async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await w.get("/v1/org", { key: forgeKey(), ip: "192.0.2.7" })).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect((await w.get("/v1/org", { ip: "192.0.2.7" })).status).toBe(429);
    expect((await w.get("/v1/org", { key: forgeKey(), ip: "192.0.2.8" })).status).toBe(401);
    const fresh = (await newKey(w, o.key)).key;
    // Locked out means the credential is not even evaluated: a valid key gets 429 too.
    const locked = await w.get("/v1/org", { key: fresh, ip: "192.0.2.7" });
    expect(errorOf(locked)).toMatchObject({ status: 429, code: "rate_limited" });
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await w.get("/v1/org", { key: fresh, ip: "192.0.2.9" })).status).toBe(200);
  });

  it("parallel guesses from one IP cannot exceed its budget", async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => w.get("/v1/org", { key: forgeKey(), ip: "192.0.2.99" })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401).length).toBe(3);
    expect(statuses.filter((s) => s === 429).length).toBe(9);
  });

  it("valid requests from one IP do not use up its failure budget", async () => {
    const own = await newOrg(w); // its own org key: the shared one has a 5/min budget here
    const k = (await newKey(w, own.key)).key;
    const other = (await newKey(w, own.key)).key;
    const statuses = [];
    for (const key of [k, other, k, other, k, other]) {
      statuses.push((await w.get("/v1/org", { key, ip: "192.0.2.150" })).status);
      await new Promise((r) => setTimeout(r, 30)); // let the refund (after the response) land
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it("the limit survives a restart of the runtime: it is not kept in isolate memory", async () => {
    const k = (await newKey(w, o.key)).key;
    for (let i = 0; i < 5; i++) expect((await w.get("/v1/org", { key: k, ip: `10.1.0.${i}` })).status).toBe(200);
    const state = w.state;
    await w.dispose();
    w = await startWorker(LIMITS, { reuseState: state });
    expect((await w.get("/v1/org", { key: k, ip: "10.1.1.1" })).status).toBe(429);
    expect((await w.get("/v1/org", { key: o.key, ip: "10.1.1.2" })).status).toBe(200);
  });
});
