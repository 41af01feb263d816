// The realistic fake Stripe (scripts/fake-stripe.mjs) that the reconcile benchmark runs against:
// its lists page like Stripe's (every object once, equal timestamps included, `created` ranges,
// both cursors), its limits answer 429 with Stripe's body, its latency and 500s follow the seed,
// and its stats count what a client did. No worker here: plain HTTP against the fake.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latencyOf, rateLimitBody, startFakeStripe } from "../../scripts/fake-stripe.mjs";
import { uniform } from "../../scripts/fake-stripe-data.mjs";

const LIVE = "sk_live_fake0123456789";
const TEST = "sk_test_fake0123456789";
const UNLIMITED = { latency: 0, objectLatency: 0, rateLimitedLatency: 0, errorRate: 0, accountLimit: 1e9, endpointLimit: 1e9 };

const get = async (base, path, key = LIVE) => {
  const r = await fetch(base + path, { headers: { authorization: `Bearer ${key}` } });
  return { status: r.status, body: await r.json(), headers: r.headers };
};

/** Every page of `path` (with `query`) forwards from the start; the ids in order, and the pages. */
async function walk(base, path, query = "", limit = 100) {
  const ids = [];
  let after = null;
  let pages = 0;
  for (;;) {
    const q = `limit=${limit}${query}${after ? `&starting_after=${after}` : ""}`;
    const r = await get(base, `${path}?${q}`);
    expect(r.status).toBe(200);
    pages += 1;
    ids.push(...r.body.data.map((x) => x.id));
    if (!r.body.has_more) return { ids, pages };
    after = r.body.data.at(-1).id;
  }
}

/** Stripe's order: created descending, then id descending. */
const ordered = (objs) => [...objs].sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));

describe("lists", () => {
  let s;
  beforeAll(async () => {
    s = await startFakeStripe({ ...UNLIMITED, customers: 0, subscriptions: 0 });
  });
  afterAll(() => s.close());

  it("a walk of a seeded account lists every customer exactly once, newest first, across ties larger than a page", async () => {
    const clusters = [{ share: 0.06, at: 0.3, width: 0 }, { share: 0.05, at: 0.7, width: 120 }];
    const store = s.seed({ customers: 3000, subscriptions: 2400, seed: 7, clusters });
    const ties = new Map();
    for (const c of store.customers.arr) ties.set(c.created, (ties.get(c.created) ?? 0) + 1);
    expect(Math.max(...ties.values())).toBeGreaterThan(100); // the import cluster spans pages
    const { ids, pages } = await walk(s.url, "/v1/customers");
    expect(pages).toBe(30);
    expect(new Set(ids).size).toBe(3000);
    expect(ids).toEqual(ordered(store.customers.arr).map((c) => c.id));
    const subs = await walk(s.url, "/v1/subscriptions", "&status=all", 37);
    expect(new Set(subs.ids).size).toBe(2400);
  });

  it("created ranges split at a tied timestamp partition the list, and gt/lte mean what gte/lt do one second over", async () => {
    const store = s.seed({ customers: 2000, seed: 11 });
    const all = store.customers.arr;
    const tie = [...all.reduce((m, c) => m.set(c.created, (m.get(c.created) ?? 0) + 1), new Map())].sort((a, b) => b[1] - a[1])[0][0];
    const lo = all.at(-1).created;
    const hi = all[0].created + 1;
    const cuts = [lo, Math.floor((lo + tie) / 2), tie, tie + 1, Math.floor((tie + hi) / 2), hi];
    const seen = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const part = await walk(s.url, "/v1/customers", `&created[gte]=${cuts[i]}&created[lt]=${cuts[i + 1]}`, 100);
      for (const id of part.ids) {
        const c = store.customers.byId.get(id);
        expect(c.created >= cuts[i] && c.created < cuts[i + 1]).toBe(true);
      }
      seen.push(...part.ids);
    }
    expect(seen.length).toBe(2000);
    expect(new Set(seen).size).toBe(2000);
    const exact = await walk(s.url, "/v1/customers", `&created=${tie}`);
    expect(exact.ids.length).toBe(all.filter((c) => c.created === tie).length);
    const a = await walk(s.url, "/v1/customers", `&created[gt]=${tie}&created[lte]=${hi}`);
    const b = await walk(s.url, "/v1/customers", `&created[gte]=${tie + 1}&created[lt]=${hi + 1}`);
    expect(a.ids).toEqual(b.ids);
  });

  it("ending_before walks back to the start with the same pages, and the cursors refuse to be combined", async () => {
    const store = s.empty();
    for (let i = 0; i < 250; i++) store.addCustomer({ created: 1_700_000_000 + Math.floor(i / 120) });
    const forward = (await walk(s.url, "/v1/customers", "", 30)).ids;
    const back = [];
    let cursor = forward.at(-1);
    back.unshift(cursor);
    for (;;) {
      const r = await get(s.url, `/v1/customers?limit=30&ending_before=${cursor}`);
      back.unshift(...r.body.data.map((c) => c.id));
      if (!r.body.has_more) break;
      cursor = r.body.data[0].id;
    }
    expect(back).toEqual(forward);
    const both = await get(s.url, `/v1/customers?starting_after=${forward[0]}&ending_before=${forward[5]}`);
    expect(both.status).toBe(400);
    const unknown = await get(s.url, "/v1/customers?starting_after=cus_missing");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: "resource_missing", param: "starting_after", type: "invalid_request_error" });
    expect((await get(s.url, "/v1/customers?limit=101")).status).toBe(400);
    expect((await get(s.url, "/v1/customers?limit=0")).status).toBe(400);
    expect((await get(s.url, "/v1/customers?created[gte]=soon")).status).toBe(400);
    expect((await get(s.url, "/v1/customers?colour=blue")).body.error.message).toBe("Received unknown parameter: colour");
  });

  it("a customer created during a walk is at the head of the list: the walk in progress neither sees it nor loses its place", async () => {
    const store = s.seed({ customers: 500, seed: 3 });
    const first = await get(s.url, "/v1/customers?limit=100");
    const fresh = store.addCustomer({ email: "new@example.com" });
    const tied = store.addCustomer({ created: first.body.data[99].created, id: "cus_zzzzzzzzzzzzzzzz" }); // ties the cursor, sorts before it
    let after = first.body.data.at(-1).id;
    const rest = [];
    for (;;) {
      const r = await get(s.url, `/v1/customers?limit=100&starting_after=${after}`);
      rest.push(...r.body.data.map((c) => c.id));
      if (!r.body.has_more) break;
      after = r.body.data.at(-1).id;
    }
    const walked = [...first.body.data.map((c) => c.id), ...rest];
    expect(new Set(walked).size).toBe(500);
    expect(walked).not.toContain(fresh.id);
    expect(walked).not.toContain(tied.id);
    expect((await get(s.url, "/v1/customers?limit=1")).body.data[0].id).toBe(fresh.id);
    const events = await get(s.url, `/v1/events?limit=10&type=customer.created&created[gte]=${fresh.created}`);
    expect(events.body.data.map((e) => e.data.object.id)).toContain(fresh.id);
  });

  it("subscriptions: status=all includes the canceled, the default leaves them out; items past the first 10 are listed apart; expand resolves ids", async () => {
    const store = s.empty();
    const c = store.addCustomer({ created: 1_700_000_000 });
    const live = store.addSubscription({ customer: c.id, price: "price_pro", items: 12, created: 1_700_000_100 });
    const gone = store.addSubscription({ customer: c.id, price: "price_basic", created: 1_700_000_050 });
    store.updateSubscription(gone.id, { status: "canceled" });
    expect((await get(s.url, `/v1/subscriptions?customer=${c.id}`)).body.data.map((x) => x.id)).toEqual([live.id]);
    const all = await get(s.url, `/v1/subscriptions?customer=${c.id}&status=all&limit=100&expand[]=data.customer&expand[]=data.items.data.price`);
    expect(all.body.data.map((x) => x.id)).toEqual([live.id, gone.id]);
    expect(all.body.data[0].customer).toMatchObject({ id: c.id, object: "customer" });
    expect(all.body.data[0].items).toMatchObject({ has_more: true, total_count: 12 });
    expect(all.body.data[0].items.data).toHaveLength(10);
    const rest = await get(s.url, `/v1/subscription_items?limit=100&subscription=${live.id}&starting_after=${all.body.data[0].items.data[9].id}`);
    expect(rest.body.data).toHaveLength(2);
    expect((await get(s.url, "/v1/subscriptions?limit=1&expand[]=data.items.data.price.product")).body.error.message).toBe("You cannot expand more than 4 levels of a property.");
    const ents = await get(s.url, `/v1/entitlements/active_entitlements?limit=100&customer=${c.id}`);
    expect(ents.body.data.map((e) => e.lookup_key)).toEqual(["sso"]);
    const features = await get(s.url, "/v1/products/prod_pro/features?limit=100");
    expect(features.body.data[0].entitlement_feature.lookup_key).toBe("sso");
    expect((await get(s.url, "/v1/products/prod_nope/features")).status).toBe(404);
    expect((await get(s.url, "/v1/products?ids[]=prod_basic")).body.data.map((p) => p.id)).toEqual(["prod_basic"]);
    store.deleteCustomer(c.id);
    expect((await get(s.url, `/v1/customers/${c.id}`)).body).toMatchObject({ id: c.id, deleted: true });
    expect((await get(s.url, "/v1/customers")).body.data).toEqual([]);
  });

  it("the benchmark's app rows: one per customer, every 20th drifted", () => {
    const store = s.seed({ customers: 1000, subscriptions: 800, seed: 5 });
    const { rows, drifted } = store.appRows({ driftEvery: 20, driftOffset: 7 });
    expect(rows).toHaveLength(1000);
    expect(drifted).toHaveLength(50);
    expect(rows.filter(([, plan]) => plan !== "free").length).toBeGreaterThan(700);
  });

  it("asks for a key as Stripe does", async () => {
    expect((await fetch(`${s.url}/v1/customers`)).status).toBe(401);
    expect((await get(s.url, "/v1/customers", "pk_live_nope")).status).toBe(401);
  });
});

describe("limits", () => {
  // The limits' clock stands still unless a test moves it: a slow machine changes nothing.
  let s;
  let now = 1_000;
  beforeAll(async () => {
    s = await startFakeStripe({ customers: 300, latency: 0, objectLatency: 0, rateLimitedLatency: 0, errorRate: 0, clock: () => now });
  });
  afterAll(() => s.close());

  it("past 25 requests a second to one endpoint, a live key gets 429 with Stripe's body, and the stats count them", async () => {
    s.reset();
    const rs = await Promise.all(Array.from({ length: 40 }, () => get(s.url, "/v1/customers?limit=10")));
    const limited = rs.filter((r) => r.status === 429);
    expect(rs.filter((r) => r.status === 200)).toHaveLength(25);
    expect(limited).toHaveLength(15);
    expect(limited[0].body).toEqual(rateLimitBody("live"));
    expect(limited[0].body.error).toEqual({
      code: "rate_limit",
      doc_url: "https://stripe.com/docs/error-codes/rate-limit",
      message: "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
      type: "invalid_request_error",
    });
    expect(limited[0].headers.get("stripe-rate-limited-reason")).toBe("endpoint-rate");
    expect(limited[0].headers.get("retry-after")).toBeNull();
    const e = s.stats().endpoints["GET /v1/customers"];
    expect(e).toMatchObject({ requests: 40, ok: 25, rateLimited: 15, rateLimitedEndpoint: 15, peakRate: 25 });
    // Another endpoint has its own 25, within the account's 100.
    const other = await Promise.all(Array.from({ length: 20 }, () => get(s.url, "/v1/subscriptions?limit=10")));
    expect(other.every((r) => r.status === 200)).toBe(true);
  });

  it("a test key shares 25 a second across endpoints; the window frees after a second", async () => {
    s.reset();
    const paths = ["/v1/customers", "/v1/subscriptions", "/v1/products", "/v1/customers/cus_x"];
    const rs = await Promise.all(Array.from({ length: 32 }, (_, i) => get(s.url, paths[i % 4], TEST)));
    const limited = rs.filter((r) => r.status === 429);
    expect(limited).toHaveLength(7);
    expect(limited[0].body.error.message).toMatch(/^Testmode request rate limit exceeded/);
    expect(limited[0].headers.get("stripe-rate-limited-reason")).toBe("global-rate");
    expect(s.stats().total).toMatchObject({ requests: 32, rateLimited: 7, rateLimitedAccount: 7 });
    now += 999;
    expect((await get(s.url, "/v1/products", TEST)).status).toBe(429);
    now += 1;
    expect((await get(s.url, "/v1/products", TEST)).status).toBe(200);
  });

  it("limits, Retry-After and Stripe-Should-Retry are options; a token bucket also holds the rate", async () => {
    const t = await startFakeStripe({ customers: 10, latency: 0, objectLatency: 0, rateLimitedLatency: 0, errorRate: 0, mode: "live", accountLimit: 5, endpointLimit: 100, retryAfter: true, shouldRetry: true, limiter: "bucket", clock: () => now });
    try {
      const rs = await Promise.all(Array.from({ length: 8 }, () => get(t.url, "/v1/customers", TEST)));
      const limited = rs.filter((r) => r.status === 429);
      expect(limited).toHaveLength(3);
      expect(limited[0].body.error.message).toMatch(/^Request rate limit exceeded/); // the mode option wins over the key
      expect(limited[0].headers.get("retry-after")).toBe("1");
      expect(limited[0].headers.get("stripe-should-retry")).toBe("true");
      now += 200; // a bucket of 5 a second earns one token in 200 ms
      expect((await get(t.url, "/v1/customers", TEST)).status).toBe(200);
      expect((await get(t.url, "/v1/customers", TEST)).status).toBe(429);
    } finally {
      await t.close();
    }
  });
});

describe("latency, 500s and concurrency", () => {
  it("the default latency is lognormal: median 500 ms, p99 1.5 s", () => {
    const xs = [];
    for (let i = 0; i < 20_000; i++) xs.push(latencyOf({ median: 500, p99: 1500, max: 5000 }, uniform(1, `${i}a`), uniform(1, `${i}b`)));
    xs.sort((a, b) => a - b);
    expect(xs[10_000]).toBeGreaterThan(470);
    expect(xs[10_000]).toBeLessThan(530);
    expect(xs[19_800]).toBeGreaterThan(1350);
    expect(xs[19_800]).toBeLessThan(1650);
    expect(latencyOf(0, 0.5, 0.5)).toBe(0);
  });

  it("each page waits its latency; peak concurrency counts the requests in flight at once", async () => {
    const s = await startFakeStripe({ customers: 200, latency: 300, objectLatency: 0, errorRate: 0, accountLimit: 1e9, endpointLimit: 1e9 });
    try {
      const t0 = performance.now();
      const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => get(s.url, `/v1/customers?limit=${i + 1}`)));
      expect(rs.every((r) => r.status === 200)).toBe(true);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(295);
      for (let i = 0; i < 3; i++) await get(s.url, "/v1/customers?limit=5");
      const e = s.stats().endpoints["GET /v1/customers"];
      expect(e).toMatchObject({ requests: 13, ok: 13, peakConcurrency: 10, inFlight: 0, latencyP50: 300, objects: 70 });
      expect(s.stats().total.peakConcurrency).toBe(10);
      s.reset();
      expect(s.stats().total).toMatchObject({ requests: 0, peakConcurrency: 0 });
    } finally {
      await s.close();
    }
  });

  it("500s come at the configured rate with Stripe's api_error body, and the same ones again after a reset", async () => {
    const s = await startFakeStripe({ customers: 50, latency: 0, objectLatency: 0, errorRate: 0.2, seed: 42, accountLimit: 1e9, endpointLimit: 1e9 });
    try {
      const once = async () => {
        const out = [];
        for (let i = 0; i < 200; i++) out.push((await get(s.url, `/v1/customers?limit=${(i % 20) + 1}`)).status);
        return out;
      };
      const a = await once();
      const errors = a.filter((x) => x === 500).length;
      expect(errors).toBeGreaterThan(20);
      expect(errors).toBeLessThan(60);
      expect(s.stats().total.serverErrors).toBe(errors);
      s.reset();
      expect(await once()).toEqual(a);
      let r;
      for (let i = 0; (r = await get(s.url, `/v1/products?limit=${(i % 100) + 1}`)).status !== 500; i++);
      expect(r.body).toEqual({ error: { message: "An unknown error occurred", type: "api_error" } });
    } finally {
      await s.close();
    }
  });
});
