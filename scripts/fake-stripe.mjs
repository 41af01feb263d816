// A realistic fake Stripe for the reconcile benchmark and tests (issue 25, point 1): the read
// endpoints ParityRail calls (core/src/stripe), answered as Stripe answers them, at Stripe's
// speed and under Stripe's limits:
//   - lists newest first with `limit` (1–100), `starting_after`/`ending_before`,
//     `created[gt|gte|lt|lte]`, `has_more`, `expand[]`; equal timestamps page by id
//     (scripts/fake-stripe-data.mjs);
//   - a latency per list page (default lognormal, median 500 ms, p99 1.5 s) and per object;
//   - the account limit (100/s live, 25/s test, by the key's prefix) and a per-endpoint limit
//     (25/s), as sliding 1-second windows (or token buckets), answered with `429`, Stripe's
//     error body and `Stripe-Rate-Limited-Reason`;
//   - occasional `500`s (0.5%);
//   - per endpoint: requests, 429s, 500s, peak concurrency and peak rate (`stats()`).
// Latency and 500s are fixed by the seed, the URL and how many times that URL was asked: the
// same client run sees the same answers whatever the interleaving.
//
//   import { startFakeStripe } from "./fake-stripe.mjs";
//   const stripe = await startFakeStripe({ customers: 20_000, subscriptions: 16_000 });
//   stripe.url; stripe.stats(); stripe.reset(); stripe.store.addCustomer(); await stripe.close();
//
// CLI: node scripts/fake-stripe.mjs --customers 20000 --subscriptions 16000 --port 12111
// prints its URL, serves until interrupted, then prints its stats. Control endpoints (not
// counted, not limited): GET /_fake/stats, POST /_fake/reset, POST /_fake/customers,
// POST /_fake/subscriptions, POST /_fake/subscriptions/{id}, DELETE /_fake/customers/{id}.
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { Store, StripeInvalid, expand, expandsOf, hidden, listParams, page, pageOf, seedData, uniform } from "./fake-stripe-data.mjs";

export const DEFAULTS = {
  latency: { median: 500, p99: 1500, max: 5000 }, // a list page
  objectLatency: { median: 200, p99: 600, max: 3000 }, // one object
  rateLimitedLatency: 20, // a 429 is answered at once
  errorRate: 0.005,
  mode: "auto", // "live" | "test" | "auto" (by the key: sk_live_/rk_live_ or sk_test_/rk_test_)
  liveLimit: 100,
  testLimit: 25,
  accountLimit: undefined, // overrides liveLimit/testLimit
  endpointLimit: 25,
  endpointLimits: {}, // { "GET /v1/customers": 50 }
  limiter: "sliding", // or "bucket"
  maxConcurrency: Infinity, // a concurrency limiter, off unless set
  retryAfter: false, // send `Retry-After` (seconds) with a 429
  shouldRetry: undefined, // "true"/"false": send `Stripe-Should-Retry` with a 429
  shouldRetry500: undefined, // the same with a 500
  accountOf: () => "acct_fake", // the account a key belongs to (limits are per account and mode)
  seed: 1,
  apiVersion: "2024-06-20",
  clock: () => performance.now(), // milliseconds, for the limits (a test may stop it)
};

// ---- latency ---------------------------------------------------------------------------------

/** Milliseconds for a latency spec: a number (fixed), `{ median, p99, max }` (lognormal), or a
 * function of two uniforms. `u1`, `u2` in (0, 1). */
export function latencyOf(spec, u1, u2) {
  if (!spec) return 0;
  if (typeof spec === "number") return spec;
  if (typeof spec === "function") return spec(u1, u2);
  const { median, p99 = median, max = Infinity } = spec;
  if (!median) return 0;
  const sigma = Math.log(p99 / median) / 2.3263;
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return Math.min(max, median * Math.exp(sigma * z));
}

// ---- limits ----------------------------------------------------------------------------------

/** The admissions of the last second (also the peak-rate counter). */
class Window {
  constructor() {
    this.t = [];
    this.h = 0;
  }
  count(now) {
    while (this.h < this.t.length && this.t[this.h] <= now - 1000) this.h++;
    if (this.h > 4096 && this.h * 2 > this.t.length) {
      this.t = this.t.slice(this.h);
      this.h = 0;
    }
    return this.t.length - this.h;
  }
  allows(now, limit) {
    return this.count(now) < limit;
  }
  take(now) {
    this.t.push(now);
  }
  /** Milliseconds until one more fits. */
  wait(now) {
    return this.count(now) ? this.t[this.h] + 1000 - now : 0;
  }
}

/** A token bucket of `limit` tokens refilled at `limit` a second. */
class Bucket {
  constructor(limit) {
    this.tokens = limit;
    this.last = 0;
  }
  refill(now, limit) {
    this.tokens = Math.min(limit, this.tokens + ((now - this.last) * limit) / 1000);
    this.last = now;
  }
  allows(now, limit) {
    this.refill(now, limit);
    return this.tokens >= 1;
  }
  take() {
    this.tokens -= 1;
  }
  wait(now, limit) {
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) * 1000) / limit;
  }
}

const RATE_LIMITED = {
  live: "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
  test: "Testmode request rate limit exceeded, the rate limits in testmode are lower than livemode. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
};

export const rateLimitBody = (mode) => ({
  error: { code: "rate_limit", doc_url: "https://stripe.com/docs/error-codes/rate-limit", message: RATE_LIMITED[mode], type: "invalid_request_error" },
});

// ---- routes ----------------------------------------------------------------------------------

const LIST = ["limit", "starting_after", "ending_before", "expand"];
const missing = (kind, id) => new StripeInvalid(`No such ${kind}: '${id}'`, "id", 404, "resource_missing");
const required = (q, name) => {
  const v = q.get(name);
  if (!v) throw new StripeInvalid(`Missing required param: ${name}.`, name);
  return v;
};
const STATUSES = new Set(["active", "all", "canceled", "ended", "incomplete", "incomplete_expired", "past_due", "paused", "trialing", "unpaid"]);

/** `[endpoint, path pattern, allowed parameters, kind ("list" | "object"), answer(store, match, query)]`. */
const ROUTES = [
  ["GET /v1/account", /^\/v1\/account$/, ["expand"], "object", (s) => ({ id: s.o.accountId ?? "acct_fake", object: "account", charges_enabled: true, country: "US", default_currency: "usd", type: "standard" })],
  ["GET /v1/customers", /^\/v1\/customers$/, [...LIST, "created", "email", "test_clock"], "list", (s, m, q) => {
    const email = q.get("email");
    return page(s.customers, listParams(q), "/v1/customers", "customer", email ? (c) => c.email === email : undefined);
  }],
  ["GET /v1/customers/{id}", /^\/v1\/customers\/([^/]+)$/, ["expand"], "object", (s, m) => s.customers.byId.get(m[1]) ?? missing("customer", m[1])],
  ["GET /v1/subscriptions", /^\/v1\/subscriptions$/, [...LIST, "created", "customer", "price", "status", "collection_method", "test_clock"], "list", (s, m, q) => {
    const status = q.get("status");
    if (status !== null && !STATUSES.has(status)) throw new StripeInvalid(`Invalid status: must be one of ${[...STATUSES].join(", ")}`, "status");
    const price = q.get("price");
    const keep = (x) =>
      (status === "all" || (status === null ? x.status !== "canceled" : status === "ended" ? x.status === "canceled" || x.status === "incomplete_expired" : x.status === status)) &&
      (!price || x._items.some((it) => it.price.id === price));
    const customer = q.get("customer");
    const listing = customer ? { arr: s.subsOf.get(customer) ?? [], byId: s.subscriptions.byId } : s.subscriptions;
    return page(listing, listParams(q), "/v1/subscriptions", "subscription", keep, s.subscriptions.byId);
  }],
  ["GET /v1/subscriptions/{id}", /^\/v1\/subscriptions\/([^/]+)$/, ["expand"], "object", (s, m) => s.subscriptions.byId.get(m[1]) ?? missing("subscription", m[1])],
  ["GET /v1/subscription_items", /^\/v1\/subscription_items$/, [...LIST, "subscription"], "list", (s, m, q) => {
    const id = required(q, "subscription");
    const sub = s.subscriptions.byId.get(id);
    if (!sub) throw new StripeInvalid(`No such subscription: '${id}'`, "subscription", 400, "resource_missing");
    return pageOf(sub._items, listParams(q), "/v1/subscription_items");
  }],
  ["GET /v1/products", /^\/v1\/products$/, [...LIST, "created", "active", "ids", "shipped", "url"], "list", (s, m, q) => {
    const active = q.get("active");
    const ids = [...q.keys()].filter((k) => /^ids\[\d*\]$/.test(k)).flatMap((k) => q.getAll(k));
    const keep = (p) => (active === null || String(p.active) === active) && (!ids.length || ids.includes(p.id));
    return page(s.products, listParams(q), "/v1/products", "product", keep);
  }],
  ["GET /v1/products/{id}", /^\/v1\/products\/([^/]+)$/, ["expand"], "object", (s, m) => s.products.byId.get(m[1]) ?? missing("product", m[1])],
  ["GET /v1/products/{id}/features", /^\/v1\/products\/([^/]+)\/features$/, LIST, "list", (s, m, q) => {
    if (!s.products.byId.has(m[1])) throw missing("product", m[1]);
    return pageOf(s.productFeatures.get(m[1]) ?? [], listParams(q), `/v1/products/${m[1]}/features`);
  }],
  ["GET /v1/prices", /^\/v1\/prices$/, [...LIST, "created", "active", "product", "type", "currency", "lookup_keys", "recurring"], "list", (s, m, q) => {
    const product = q.get("product");
    return page(s.prices, listParams(q), "/v1/prices", "price", product ? (p) => p.product === product : undefined);
  }],
  ["GET /v1/prices/{id}", /^\/v1\/prices\/([^/]+)$/, ["expand"], "object", (s, m) => s.prices.byId.get(m[1]) ?? missing("price", m[1])],
  ["GET /v1/entitlements/active_entitlements", /^\/v1\/entitlements\/active_entitlements$/, [...LIST, "customer"], "list", (s, m, q) => {
    return pageOf(s.activeEntitlements(required(q, "customer")), listParams(q), "/v1/entitlements/active_entitlements");
  }],
  ["GET /v1/events", /^\/v1\/events$/, [...LIST, "created", "type", "types", "delivery_success"], "list", (s, m, q) => {
    const type = q.get("type");
    const types = q.getAll("types[]");
    const keep = type || types.length ? (e) => (!type || e.type === type) && (!types.length || types.includes(e.type)) : undefined;
    return page(s.events, listParams(q), "/v1/events", "event", keep);
  }],
  ["GET /v1/events/{id}", /^\/v1\/events\/([^/]+)$/, ["expand"], "object", (s, m) => s.events.byId.get(m[1]) ?? missing("event", m[1])],
];

/** A 400 for a parameter the endpoint does not take, as Stripe refuses unknown ones. */
const ARRAYS = new Set(["expand", "types", "ids", "lookup_keys"]);
function checkParams(q, allowed) {
  for (const key of q.keys()) {
    const base = key.replace(/\[.*$/, "");
    const sub = key.slice(base.length);
    const ok = allowed.includes(base) && (ARRAYS.has(base) ? /^\[\d*\]$/.test(sub) : sub === "" || (base === "created" && /^\[(gt|gte|lt|lte)\]$/.test(sub)));
    if (!ok) throw new StripeInvalid(`Received unknown parameter: ${key}`, key);
  }
}

// ---- the server ------------------------------------------------------------------------------

const emptyStats = () => ({ requests: 0, ok: 0, rateLimited: 0, rateLimitedAccount: 0, rateLimitedEndpoint: 0, rateLimitedConcurrency: 0, serverErrors: 0, clientErrors: 0, inFlight: 0, peakConcurrency: 0, peakRate: 0, objects: 0, latencies: [], rate: new Window() });

const pct = (xs, p) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
};

/** The fake without its socket: `handle(req, res)` for any `http.Server`. */
export function createFakeStripe(options = {}) {
  const o = { ...DEFAULTS, ...options };
  let store = seedData({ ...o, seed: o.seed });
  const limiters = new Map();
  const seen = new Map(); // URL → times asked (fixes latency and 500s)
  const timers = new Set();
  let stats;
  let requestNo = 0;
  const reset = () => {
    stats = { total: emptyStats(), endpoints: new Map() };
    limiters.clear();
    seen.clear();
  };
  reset();

  const limiterOf = (key, limit) => {
    let l = limiters.get(key);
    if (!l) limiters.set(key, (l = o.limiter === "bucket" ? new Bucket(limit) : new Window()));
    return l;
  };
  const endpointStats = (name) => {
    let e = stats.endpoints.get(name);
    if (!e) stats.endpoints.set(name, (e = emptyStats()));
    return e;
  };

  function send(res, status, body, headers, both, done) {
    if (res.writableEnded || res.destroyed) return done();
    const text = JSON.stringify(body, hidden);
    requestNo += 1;
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "request-id": `req_fake${String(requestNo).padStart(10, "0")}`, "stripe-version": o.apiVersion, ...headers });
    res.end(text);
    for (const s of both) {
      if (status === 200) s.ok += 1;
      else if (status === 429) s.rateLimited += 1;
      else if (status >= 500) s.serverErrors += 1;
      else s.clientErrors += 1;
      if (status === 200 && Array.isArray(body.data)) s.objects += body.data.length;
    }
    done();
  }

  function later(ms, fn) {
    if (!ms) return fn();
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  }

  function handle(req, res) {
    const url = new URL(req.url, "http://stripe.fake");
    if (url.pathname.startsWith("/_fake/")) return control(req, res, url);
    const now = o.clock();
    const route = ROUTES.find((r) => r[1].test(url.pathname));
    const name = req.method === "GET" && route ? route[0] : `${req.method} (unrecognized)`;
    const both = [stats.total, endpointStats(name)];
    for (const s of both) {
      s.requests += 1;
      s.inFlight += 1;
      s.peakConcurrency = Math.max(s.peakConcurrency, s.inFlight);
    }
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      for (const s of both) s.inFlight -= 1;
    };
    res.on("close", done);
    const fail = (e) => send(res, e.status ?? 500, e.body ?? { error: { message: String(e.message), type: "api_error" } }, {}, both, done);

    // Authentication: Bearer, or Basic with the key as the user name.
    const auth = req.headers.authorization ?? "";
    let key = /^Bearer (.+)$/i.exec(auth)?.[1];
    if (!key && /^Basic /i.test(auth)) key = Buffer.from(auth.slice(6), "base64").toString().split(":")[0];
    if (!key) return fail({ status: 401, body: { error: { message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.", type: "invalid_request_error" } } });
    const keyMode = /^(sk|rk)_live_/.test(key) ? "live" : /^(sk|rk)_test_/.test(key) ? "test" : null;
    if (!keyMode) return fail({ status: 401, body: { error: { message: `Invalid API Key provided: ${key.slice(0, 8)}${"*".repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`, type: "invalid_request_error" } } });
    if (!route || req.method !== "GET") {
      return fail({ status: 404, body: { error: { message: `Unrecognized request URL (${req.method}: ${url.pathname}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`, type: "invalid_request_error" } } });
    }
    const mode = o.mode === "auto" ? keyMode : o.mode;

    // Limits: the concurrency limiter, then the account's rate, then the endpoint's.
    const accountKey = `${o.accountOf(key)}:${mode}`;
    const accountLimit = o.accountLimit ?? (mode === "live" ? o.liveLimit : o.testLimit);
    const endpointLimit = o.endpointLimits[name] ?? o.endpointLimit;
    const account = limiterOf(accountKey, accountLimit);
    const endpoint = limiterOf(`${accountKey} ${name}`, endpointLimit);
    let reason = null;
    if (stats.total.inFlight > o.maxConcurrency) reason = "global-concurrency";
    else if (!account.allows(now, accountLimit)) reason = "global-rate";
    else if (!endpoint.allows(now, endpointLimit)) reason = "endpoint-rate";
    if (reason) {
      for (const s of both) s[reason === "global-rate" ? "rateLimitedAccount" : reason === "endpoint-rate" ? "rateLimitedEndpoint" : "rateLimitedConcurrency"] += 1;
      const headers = { "stripe-rate-limited-reason": reason };
      if (o.retryAfter) headers["retry-after"] = String(Math.max(1, Math.ceil(Math.max(account.wait(now, accountLimit), endpoint.wait(now, endpointLimit)) / 1000)));
      if (o.shouldRetry !== undefined) headers["stripe-should-retry"] = String(o.shouldRetry);
      return later(o.rateLimitedLatency, () => send(res, 429, rateLimitBody(mode), headers, both, done));
    }
    account.take(now);
    endpoint.take(now);
    for (const s of both) {
      s.rate.take(now);
      s.peakRate = Math.max(s.peakRate, s.rate.count(now));
    }

    // The answer, as of arrival; its latency and whether it fails, from the seed and the URL.
    const n = (seen.get(req.url) ?? 0) + 1;
    seen.set(req.url, n);
    const at = `${req.url}#${n}`;
    const kind = route[3];
    const ms = latencyOf(kind === "list" ? o.latency : o.objectLatency, uniform(o.seed, `${at}#a`), uniform(o.seed, `${at}#b`));
    let status = 200;
    let body;
    let headers = {};
    if (uniform(o.seed, `${at}#e`) < o.errorRate) {
      status = 500;
      body = { error: { message: "An unknown error occurred", type: "api_error" } };
      if (o.shouldRetry500 !== undefined) headers = { "stripe-should-retry": String(o.shouldRetry500) };
    } else {
      try {
        checkParams(url.searchParams, route[2]);
        const m = route[1].exec(url.pathname);
        body = route[4](store, m, url.searchParams);
        if (body instanceof StripeInvalid) throw body;
        const paths = expandsOf(url.searchParams);
        if (paths.length) body = expand(store, JSON.parse(JSON.stringify(body, hidden)), paths);
      } catch (e) {
        if (!(e instanceof StripeInvalid)) console.error("fake Stripe:", e); // a fault of the fake: a 500, not a crash
        status = e.status ?? 500;
        body = e.body ?? { error: { message: "An unknown error occurred", type: "api_error" } };
      }
    }
    later(ms, () => {
      if (status === 200) for (const s of both) if (s.latencies.length < 1_000_000) s.latencies.push(ms);
      send(res, status, body, headers, both, done);
    });
  }

  // The fake's own endpoints, for a fake run in another process (CLI mode).
  function control(req, res, url) {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", () => {
      const reply = (status, body) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body, hidden));
      };
      try {
        const body = raw ? JSON.parse(raw) : {};
        const p = url.pathname;
        let m;
        if (req.method === "GET" && p === "/_fake/stats") return reply(200, api.stats());
        if (req.method === "POST" && p === "/_fake/reset") return reply(200, (api.reset(), { ok: true }));
        if (req.method === "POST" && p === "/_fake/customers") return reply(200, store.addCustomer(body));
        if (req.method === "POST" && p === "/_fake/subscriptions") return reply(200, store.addSubscription(body));
        if (req.method === "POST" && (m = /^\/_fake\/subscriptions\/([^/]+)$/.exec(p))) return reply(200, store.updateSubscription(m[1], body));
        if (req.method === "DELETE" && (m = /^\/_fake\/customers\/([^/]+)$/.exec(p))) return reply(200, store.deleteCustomer(m[1]));
        reply(404, { error: "unknown control endpoint" });
      } catch (e) {
        reply(400, { error: String(e.message) });
      }
    });
  }

  const summary = (s) => {
    const { latencies, rate, inFlight, ...rest } = s;
    return { ...rest, inFlight, latencyP50: pct(latencies, 50), latencyP99: pct(latencies, 99) };
  };

  const api = {
    handle,
    get store() {
      return store;
    },
    /** Per endpoint ("GET /v1/customers", "GET /v1/customers/{id}", …) and in total: requests,
     * ok, rateLimited (and by reason), serverErrors, clientErrors, peakConcurrency (requests
     * in flight at once), peakRate (admitted in one sliding second), objects listed, and the
     * p50/p99 latency of the answered ones. */
    stats: () => ({ total: summary(stats.total), endpoints: Object.fromEntries([...stats.endpoints].map(([k, v]) => [k, summary(v)])) }),
    /** Clears the stats, the rate limits and the per-URL counts (a rerun sees the same
     * latencies and 500s); the data stays. */
    reset,
    /** Replaces the data with a new seeded account (`seedData` options) and resets. */
    seed: (seedOptions = {}) => {
      store = seedData({ ...o, ...seedOptions });
      reset();
      return store;
    },
    /** The store with no seeded objects at all (tests that build their own). */
    empty: (storeOptions = {}) => {
      store = seedData({ ...o, ...storeOptions, customers: 0, subscriptions: 0 });
      reset();
      return store;
    },
    timers,
    options: o,
  };
  return api;
}

/** Starts the fake on `options.port` (0: any free port) of 127.0.0.1. Returns
 * `{ url, stats(), reset(), seed(opts), empty(opts), store, close() }`. */
export async function startFakeStripe(options = {}) {
  const fake = createFakeStripe(options);
  const server = createServer(fake.handle);
  server.keepAliveTimeout = 60_000;
  const host = options.host ?? "127.0.0.1";
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const url = `http://${host}:${server.address().port}`;
  return {
    url,
    stats: fake.stats,
    reset: fake.reset,
    seed: fake.seed,
    empty: fake.empty,
    get store() {
      return fake.store;
    },
    options: fake.options,
    close: () =>
      new Promise((resolve) => {
        for (const t of fake.timers) clearTimeout(t);
        fake.timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export { Store };

// ---- CLI -------------------------------------------------------------------------------------

const CLI = {
  "--customers": ["customers", Number],
  "--subscriptions": ["subscriptions", Number],
  "--port": ["port", Number],
  "--host": ["host", String],
  "--seed": ["seed", Number],
  "--mode": ["mode", String],
  "--error-rate": ["errorRate", Number],
  "--account-limit": ["accountLimit", Number],
  "--endpoint-limit": ["endpointLimit", Number],
  "--limiter": ["limiter", String],
  "--max-concurrency": ["maxConcurrency", Number],
};

function parseArgs(argv) {
  const out = {};
  let median = DEFAULTS.latency.median;
  let p99;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help") {
      console.log("node scripts/fake-stripe.mjs [--customers N] [--subscriptions M] [--port P] [--seed S] [--latency MEDIAN_MS] [--p99 MS] [--object-latency MEDIAN_MS] [--error-rate R] [--mode auto|live|test] [--account-limit N] [--endpoint-limit N] [--limiter sliding|bucket] [--max-concurrency N] [--retry-after]");
      process.exit(0);
    } else if (a === "--retry-after") out.retryAfter = true;
    else if (a === "--latency") median = Number(argv[++i]);
    else if (a === "--p99") p99 = Number(argv[++i]);
    else if (a === "--object-latency") {
      const m = Number(argv[++i]);
      out.objectLatency = m ? { median: m, p99: m * 3, max: m * 15 } : 0;
    } else if (CLI[a]) out[CLI[a][0]] = CLI[a][1](argv[++i]);
    else throw new Error(`unknown argument ${a} (--help)`);
  }
  out.latency = median ? { median, p99: p99 ?? median * 3, max: Math.max(5000, (p99 ?? median * 3) * 3) } : 0;
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const stripe = await startFakeStripe(opts);
  console.log(stripe.url);
  console.error(`fake Stripe: ${stripe.store.customers.size} customers, ${stripe.store.subscriptions.size} subscriptions, seeded in ${Math.round(performance.now() - t0)} ms; Ctrl-C prints the stats`);
  const stop = async () => {
    console.error(JSON.stringify(stripe.stats(), null, 2));
    await stripe.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
