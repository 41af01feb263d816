// The data side of the realistic fake Stripe (scripts/fake-stripe.mjs): deterministic seeding of
// customers, subscriptions, products, prices and features; the store that keeps each list in
// Stripe's order (newest first: `created` descending, then id descending, so equal timestamps
// still have one order); cursor paging with `starting_after`/`ending_before` and
// `created[gt|gte|lt|lte]`; `expand[]`; and changes during a run (created "now"), each leaving
// an event for the Events API. No network here: the server module answers from this.

// ---- deterministic randomness ------------------------------------------------------------------

/** A small seeded generator (splitmix32): `next()` in [0, 1). */
export function rng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n) };
}

/** A uniform number in (0, 1) fixed by `seed` and `key` alone (FNV-1a, then a 32-bit mix). */
export function uniform(seed, key) {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return (h + 0.5) / 4294967296;
}

// Shared empty values: a million customers need not each hold their own `{}`.
const NONE = Object.freeze({});
const NO_LOCALES = Object.freeze([]);

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CODES = [...ALPHABET].map((c) => c.charCodeAt(0));
const idOf = (prefix, r, len = 14) => {
  const codes = new Array(len);
  for (let i = 0; i < len; i++) codes[i] = CODES[r.int(62)];
  return prefix + String.fromCharCode(...codes);
};

// ---- Stripe's list order -----------------------------------------------------------------------

/** Whether `a` is listed before `b`: newer first, then the greater id first. */
export const before = (a, b) => a.created > b.created || (a.created === b.created && a.id > b.id);

/** The first index of `arr` where `pred` holds (`pred` false then true along `arr`). */
function firstWhere(arr, pred) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(arr[mid])) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Sorts `arr` in place into list order. */
const sortListed = (arr) => arr.sort((a, b) => b.created - a.created || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));

/** Puts `o` in its place in the listed array `arr`. */
const insertListed = (arr, o) => arr.splice(firstWhere(arr, (x) => before(o, x)), 0, o);

/** One Stripe list: its objects in list order, and every object it ever held by id (deleted
 * customers stay there, so a cursor naming one still has a place). */
export class Listing {
  constructor(objects = []) {
    this.arr = sortListed([...objects]);
    this.byId = new Map();
    for (const o of this.arr) this.byId.set(o.id, o);
  }
  insert(o) {
    this.byId.set(o.id, o);
    insertListed(this.arr, o);
  }
  remove(o) {
    const i = firstWhere(this.arr, (x) => !before(x, o));
    if (this.arr[i] === o) this.arr.splice(i, 1);
  }
  get size() {
    return this.arr.length;
  }
}

/** A 400 as Stripe words it (`param` when one parameter is at fault). */
export class StripeInvalid extends Error {
  constructor(message, param, status = 400, code) {
    super(message);
    this.status = status;
    this.body = { error: { ...(code ? { code } : {}), message, ...(param ? { param } : {}), type: "invalid_request_error" } };
  }
}

const integer = (v, param) => {
  if (!/^-?\d+$/.test(v)) throw new StripeInvalid(`Invalid integer: ${v}`, param);
  return Number(v);
};

/** The query's `limit`, cursors and `created` range, checked as Stripe checks them. */
export function listParams(q) {
  const raw = q.get("limit");
  let limit = 10;
  if (raw !== null) {
    limit = integer(raw, "limit");
    if (limit < 1 || limit > 100) throw new StripeInvalid("Invalid limit: must be an integer between 1 and 100.", "limit");
  }
  const after = q.get("starting_after");
  const beforeId = q.get("ending_before");
  if (after && beforeId) throw new StripeInvalid("Received both starting_after and ending_before parameters. Please pass in only one.", "starting_after");
  let lo = -Infinity;
  let hi = Infinity;
  if (q.has("created")) lo = hi = integer(q.get("created"), "created");
  for (const [op, set] of [
    ["gt", (v) => (lo = Math.max(lo, v + 1))],
    ["gte", (v) => (lo = Math.max(lo, v))],
    ["lt", (v) => (hi = Math.min(hi, v - 1))],
    ["lte", (v) => (hi = Math.min(hi, v))],
  ]) {
    const v = q.get(`created[${op}]`);
    if (v !== null) set(integer(v, `created[${op}]`));
  }
  return { limit, after, before: beforeId, lo, hi };
}

/** One page of `listing` as Stripe lists it: `p` from `listParams`, `keep` an extra filter,
 * `kind` for the missing-cursor message, `ids` where a cursor's object is looked up (a
 * filtered list accepts any object of its kind). Walks only the `created` range asked for. */
export function page(listing, p, url, kind, keep = () => true, ids = listing.byId) {
  const arr = listing.arr;
  let from = p.hi === Infinity ? 0 : firstWhere(arr, (o) => o.created <= p.hi);
  let to = p.lo === -Infinity ? arr.length : firstWhere(arr, (o) => o.created < p.lo);
  const cursorOf = (id, param) => {
    const o = ids.get(id);
    if (!o) throw new StripeInvalid(`No such ${kind}: '${id}'`, param, 400, "resource_missing");
    return o;
  };
  const data = [];
  let hasMore = false;
  if (p.before) {
    const c = cursorOf(p.before, "ending_before");
    to = Math.min(to, firstWhere(arr, (o) => !before(o, c)));
    let i = to - 1;
    for (; i >= from && data.length < p.limit; i--) if (keep(arr[i])) data.push(arr[i]);
    for (; i >= from && !hasMore; i--) hasMore = keep(arr[i]);
    data.reverse();
  } else {
    if (p.after) {
      const c = cursorOf(p.after, "starting_after");
      from = Math.max(from, firstWhere(arr, (o) => before(c, o)));
    }
    let i = from;
    for (; i < to && data.length < p.limit; i++) if (keep(arr[i])) data.push(arr[i]);
    for (; i < to && !hasMore; i++) hasMore = keep(arr[i]);
  }
  return { object: "list", data, has_more: hasMore, url };
}

/** A page of a short list kept in a fixed order (a subscription's items, a product's features). */
export function pageOf(items, p, url) {
  let from = 0;
  let to = items.length;
  if (p.after) {
    const i = items.findIndex((x) => x.id === p.after);
    if (i < 0) throw new StripeInvalid(`No such object: '${p.after}'`, "starting_after", 400, "resource_missing");
    from = i + 1;
  }
  if (p.before) {
    const i = items.findIndex((x) => x.id === p.before);
    if (i < 0) throw new StripeInvalid(`No such object: '${p.before}'`, "ending_before", 400, "resource_missing");
    to = i;
    from = Math.max(0, to - p.limit);
    return { object: "list", data: items.slice(from, to), has_more: from > 0, url };
  }
  return { object: "list", data: items.slice(from, from + p.limit), has_more: from + p.limit < to, url };
}

// ---- seeding ---------------------------------------------------------------------------------

/** The catalog when none is given: two plans, each a product with one monthly price. */
export const DEFAULT_CATALOG = [
  { product: "prod_pro", price: "price_pro", plan: "pro", rank: 2, amount: 4900, features: ["sso"], weight: 1 },
  { product: "prod_basic", price: "price_basic", plan: "basic", rank: 1, amount: 1900, features: ["basic"], weight: 1 },
];

/** Dense stretches of `created` besides the steady growth: `share` of the objects at `at` (a
 * fraction of the span) within `width` seconds. A width of 0 is an import: all one second. */
export const DEFAULT_CLUSTERS = [
  { share: 0.02, at: 0.25, width: 0 },
  { share: 0.03, at: 0.6, width: 3600 },
  { share: 0.03, at: 0.85, width: 600 },
];

export const SEED_DEFAULTS = {
  customers: 1000,
  subscriptions: undefined, // 80% of the customers
  seed: 1,
  end: 1_767_225_600, // 2026-01-01T00:00:00Z: the newest seeded object
  span: 3 * 365 * 86_400,
  clusters: DEFAULT_CLUSTERS,
  catalog: DEFAULT_CATALOG,
  statuses: { active: 1 }, // weights
  itemsPerSubscription: 1,
  livemode: false,
  idPrefix: "",
};

const pick = (r, weights) => {
  const entries = Object.entries(weights);
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = r.next() * total;
  for (const [k, w] of entries) if ((x -= w) < 0) return k;
  return entries[entries.length - 1][0];
};

/** `count` creation times over the span: growing linearly towards `end`, plus the clusters. */
function createdTimes(r, count, o) {
  const start = o.end - o.span;
  const out = [];
  for (const c of o.clusters) {
    const n = Math.round(c.share * count);
    const at = start + Math.floor(c.at * o.span);
    for (let i = 0; i < n && out.length < count; i++) out.push(at + (c.width ? r.int(c.width + 1) : 0));
  }
  while (out.length < count) out.push(start + Math.floor(o.span * Math.sqrt(r.next())));
  return out.map((t) => Math.min(o.end, t));
}

/** The whole seeded account. Deterministic: the same options give the same objects. */
export function seedData(options = {}) {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...SEED_DEFAULTS, ...given };
  const subsCount = o.subscriptions ?? Math.round(o.customers * 0.8);
  const r = rng(o.seed);
  const store = new Store(o);
  for (const c of o.catalog) store.addProduct(c, o.end - o.span);
  const times = createdTimes(r, o.customers, o);
  const customers = times.map((created, i) => ({
    id: idOf(`cus_${o.idPrefix}`, r),
    object: "customer",
    address: null,
    balance: 0,
    created,
    currency: "usd",
    default_source: null,
    delinquent: false,
    description: null,
    email: `customer${i}@example.com`,
    invoice_prefix: idOf("", r, 8).toUpperCase(),
    livemode: o.livemode,
    metadata: NONE,
    name: `Customer ${i}`,
    phone: null,
    preferred_locales: NO_LOCALES,
    tax_exempt: "none",
    test_clock: null,
  }));
  store.customers = new Listing(customers);
  // Who subscribes: distinct customers first (a partial shuffle), then seconds for some.
  const order = customers.map((_, i) => i);
  const subs = [];
  const weights = Object.fromEntries(o.catalog.map((x, i) => [i, x.weight ?? 1]));
  for (let k = 0; k < subsCount; k++) {
    const slot = k % customers.length;
    if (k < customers.length) {
      const j = slot + r.int(customers.length - slot);
      [order[slot], order[j]] = [order[j], order[slot]];
    }
    const c = customers[order[slot]];
    // Most subscribe at signup (within seconds, keeping the clusters dense); the rest later.
    const late = r.next() < 0.4;
    const created = Math.min(o.end, c.created + (late ? r.int(Math.max(1, o.end - c.created)) : r.int(6)));
    const entry = o.catalog[Number(pick(r, weights))];
    subs.push(store.makeSubscription({ customer: c.id, price: entry.price, status: pick(r, o.statuses), created, items: o.itemsPerSubscription }, r));
  }
  store.subscriptions = new Listing(subs);
  for (const s of store.subscriptions.arr) {
    const mine = store.subsOf.get(s.customer);
    if (mine) mine.push(s); // already in list order
    else store.subsOf.set(s.customer, [s]);
  }
  return store;
}

// ---- the store -------------------------------------------------------------------------------

const PAID = new Set(["active", "trialing", "past_due"]);

/** Every object of the fake account, and the changes a test or benchmark makes during a run. */
export class Store {
  constructor(o) {
    this.o = o;
    this.r = rng((o.seed ^ 0x5eed) >>> 0);
    this.customers = new Listing();
    this.subscriptions = new Listing();
    this.products = new Listing();
    this.prices = new Listing();
    this.events = new Listing();
    this.features = new Map(); // feat_ id → entitlements.feature
    this.productFeatures = new Map(); // product id → [product_feature]
    this.subsOf = new Map(); // customer id → its subscriptions, in list order
    this.plans = new Map(); // price id → legacy plan object
    this.planOfPrice = new Map(o.catalog.map((c) => [c.price, c]));
    this.now = o.now ?? (() => Math.floor(Date.now() / 1000));
  }

  addProduct(c, created) {
    const r = this.r;
    const product = { id: c.product, object: "product", active: true, created, default_price: c.price, description: null, livemode: this.o.livemode, metadata: NONE, name: c.plan ?? c.product, type: "service", updated: created };
    this.products.insert(product);
    this.prices.insert({
      id: c.price, object: "price", active: true, billing_scheme: "per_unit", created, currency: "usd", livemode: this.o.livemode, lookup_key: null, metadata: NONE, nickname: null, product: c.product,
      recurring: { interval: "month", interval_count: 1, usage_type: "licensed" }, type: "recurring", unit_amount: c.amount ?? 1000,
    });
    this.productFeatures.set(c.product, (c.features ?? []).map((key) => {
      let f = [...this.features.values()].find((x) => x.lookup_key === key);
      if (!f) {
        f = { id: idOf("feat_", r), object: "entitlements.feature", active: true, livemode: this.o.livemode, lookup_key: key, metadata: NONE, name: key };
        this.features.set(f.id, f);
      }
      return { id: idOf("prodft_", r), object: "product_feature", entitlement_feature: f, livemode: this.o.livemode };
    }));
  }

  /** The legacy `plan` Stripe still puts beside an item's `price` (one object per price). */
  legacyPlan(p) {
    let plan = this.plans.get(p.id);
    if (!plan) this.plans.set(p.id, (plan = { id: p.id, object: "plan", active: true, amount: p.unit_amount, currency: "usd", interval: "month", product: p.product }));
    return plan;
  }

  /** A subscription object with `items` items of `price` (Stripe embeds the first 10). */
  makeSubscription({ customer, price, status = "active", created, items = 1, id }, r = this.r) {
    const p = this.prices.byId.get(price);
    if (!p) throw new StripeInvalid(`No such price: '${price}'`, "price", 400, "resource_missing");
    const sid = id ?? idOf("sub_", r);
    const all = Array.from({ length: items }, () => ({
      id: idOf("si_", r), object: "subscription_item", created, metadata: NONE, price: p,
      plan: this.legacyPlan(p),
      quantity: 1, subscription: sid,
    }));
    const canceled = status === "canceled" || status === "incomplete_expired";
    return {
      id: sid, object: "subscription", cancel_at_period_end: false, canceled_at: canceled ? created : null, collection_method: "charge_automatically",
      created, currency: "usd", customer, ended_at: canceled ? created : null, latest_invoice: null, livemode: this.o.livemode, metadata: NONE,
      start_date: created, status, trial_end: status === "trialing" ? created + 14 * 86_400 : null,
      items: { object: "list", data: all.slice(0, 10), has_more: all.length > 10, total_count: all.length, url: `/v1/subscription_items?subscription=${sid}` },
      _items: all,
    };
  }

  indexSub(s) {
    const mine = this.subsOf.get(s.customer);
    if (mine) insertListed(mine, s);
    else this.subsOf.set(s.customer, [s]);
  }

  event(type, object, previous) {
    const created = this.now();
    const data = { object: JSON.parse(JSON.stringify(object, hidden)) };
    if (previous) data.previous_attributes = previous;
    this.events.insert({ id: idOf("evt_", this.r, 24), object: "event", api_version: this.o.apiVersion ?? null, created, data, livemode: this.o.livemode, pending_webhooks: 0, request: { id: null, idempotency_key: null }, type });
  }

  // -- changes during a run (created "now" unless given) --

  addCustomer({ id, email, name, created } = {}) {
    const c = { id: id ?? idOf(`cus_${this.o.idPrefix}`, this.r), object: "customer", address: null, balance: 0, created: created ?? this.now(), currency: "usd", default_source: null, delinquent: false, description: null, email: email ?? null, invoice_prefix: idOf("", this.r, 8).toUpperCase(), livemode: this.o.livemode, metadata: NONE, name: name ?? null, phone: null, preferred_locales: NO_LOCALES, tax_exempt: "none", test_clock: null };
    if (this.customers.byId.has(c.id)) throw new Error(`customer ${c.id} exists`);
    this.customers.insert(c);
    this.event("customer.created", c);
    return c;
  }

  addSubscription({ customer, price = this.o.catalog[0].price, status = "active", created, items = 1, id } = {}) {
    if (!this.customers.byId.has(customer)) throw new Error(`no customer ${customer}`);
    const s = this.makeSubscription({ customer, price, status, created: created ?? this.now(), items, id });
    this.subscriptions.insert(s);
    this.indexSub(s);
    this.event("customer.subscription.created", s);
    return s;
  }

  /** Changes a subscription's status or price in place (its `created` stays). */
  updateSubscription(id, { status, price } = {}) {
    const s = this.subscriptions.byId.get(id);
    if (!s) throw new Error(`no subscription ${id}`);
    const previous = {};
    if (status && status !== s.status) {
      previous.status = s.status;
      s.status = status;
      if (status === "canceled") s.canceled_at = s.ended_at = this.now();
    }
    if (price) {
      const p = this.prices.byId.get(price);
      if (!p) throw new Error(`no price ${price}`);
      previous.items = JSON.parse(JSON.stringify(s.items, hidden));
      for (const it of s._items) {
        it.price = p;
        it.plan = this.legacyPlan(p);
      }
    }
    this.event(s.status === "canceled" && previous.status ? "customer.subscription.deleted" : "customer.subscription.updated", s, previous);
    return s;
  }

  /** Deletes a customer as Stripe does: gone from the list, `deleted: true` when retrieved,
   * its subscriptions canceled. */
  deleteCustomer(id) {
    const c = this.customers.byId.get(id);
    if (!c || c.deleted) throw new Error(`no customer ${id}`);
    for (const s of this.subsOf.get(id) ?? []) if (s.status !== "canceled") this.updateSubscription(s.id, { status: "canceled" });
    this.customers.remove(c);
    const gone = { id, object: "customer", deleted: true, created: c.created };
    this.customers.byId.set(id, gone);
    this.event("customer.deleted", c);
    return gone;
  }

  // -- what the benchmarks read back --

  /** The best plan `customer` pays for (`active` or `trialing`), or null. */
  paidPlan(customer) {
    let best = null;
    for (const s of this.subsOf.get(customer) ?? []) {
      if (s.status !== "active" && s.status !== "trialing") continue;
      for (const it of s._items) {
        const c = this.planOfPrice.get(it.price.id);
        if (c && (!best || (c.rank ?? 0) > (best.rank ?? 0))) best = c;
      }
    }
    return best;
  }

  /** The app table a benchmark seeds: one row per listed customer, newest first, as
   * `[id, plan, premium]`, with every `driftEvery`-th row (from `driftOffset`) drifted the
   * other way (a payer shown free; a free customer shown on the top plan). */
  appRows({ driftEvery = 20, driftOffset = 7, freePlan = "free" } = {}) {
    const top = [...this.o.catalog].sort((a, b) => (b.rank ?? 0) - (a.rank ?? 0))[0];
    const drifted = [];
    const rows = this.customers.arr.map((c, i) => {
      let plan = this.paidPlan(c.id)?.plan ?? freePlan;
      if (driftEvery && i % driftEvery === driftOffset) {
        plan = plan === freePlan ? top.plan : freePlan;
        drifted.push(c.id);
      }
      return [c.id, plan, plan !== freePlan];
    });
    return { rows, drifted };
  }

  /** The customer's active entitlements, from the features of what it pays for (active,
   * trialing, past_due). */
  activeEntitlements(customer) {
    const keys = new Map();
    for (const s of this.subsOf.get(customer) ?? []) {
      if (!PAID.has(s.status)) continue;
      for (const it of s._items) for (const pf of this.productFeatures.get(it.price.product) ?? []) keys.set(pf.entitlement_feature.lookup_key, pf.entitlement_feature);
    }
    return [...keys.values()].map((f) => ({ id: `ent_${customer.slice(4)}_${f.id.slice(5)}`, object: "entitlements.active_entitlement", feature: f.id, livemode: this.o.livemode, lookup_key: f.lookup_key }));
  }
}

/** JSON.stringify replacer that leaves out the store's own fields (`_items`). */
export const hidden = (k, v) => (k.startsWith("_") ? undefined : v);

// ---- expand ----------------------------------------------------------------------------------

const EXPANDABLE = new Set(["customer", "product", "price", "plan", "default_price", "subscription", "feature", "subscriptions", "latest_invoice", "default_payment_method", "items"]);

/** The `expand[]` / `expand[N]` paths of a query. */
export const expandsOf = (q) => [...q.keys()].filter((k) => /^expand\[\d*\]$/.test(k)).map((k) => q.getAll(k)).flat();

/** `body` (a fresh copy) with each path expanded; a 400 for a path Stripe refuses. */
export function expand(store, body, paths) {
  for (const path of new Set(paths)) {
    const segs = path.split(".");
    if (segs.length > 4) throw new StripeInvalid("You cannot expand more than 4 levels of a property.", "expand");
    walk(store, body, segs, path);
  }
  return body;
}

function resolve(store, field, id) {
  switch (field) {
    case "customer": return store.customers.byId.get(id);
    case "product": return store.products.byId.get(id);
    case "price": case "plan": case "default_price": return store.prices.byId.get(id);
    case "subscription": return store.subscriptions.byId.get(id);
    case "feature": return store.features.get(id);
    default: return undefined;
  }
}

function walk(store, node, segs, path) {
  if (node == null || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const n of node) walk(store, n, segs, path);
    return;
  }
  const [seg, ...rest] = segs;
  if (seg === "subscriptions" && node.object === "customer" && !node.deleted && node.subscriptions === undefined) {
    const live = (store.subsOf.get(node.id) ?? []).filter((s) => s.status !== "canceled");
    node.subscriptions = JSON.parse(JSON.stringify({ object: "list", data: live.slice(0, 10), has_more: live.length > 10, total_count: live.length, url: `/v1/customers/${node.id}/subscriptions` }, hidden));
  }
  let v = node[seg];
  if (v === undefined || (rest.length === 0 && !EXPANDABLE.has(seg))) throw new StripeInvalid(`This property cannot be expanded (${seg}).`, "expand");
  if (typeof v === "string") {
    const o = resolve(store, seg, v);
    if (o) node[seg] = v = JSON.parse(JSON.stringify(o, hidden));
  }
  if (rest.length) walk(store, v, rest, path);
}
