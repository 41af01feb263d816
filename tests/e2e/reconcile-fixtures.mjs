// What the reconcile, runs and webhooks suites share: the environment the test runner set up
// (PostgreSQL, localstripe), fast Stripe retries, SQL as the app's writer, the scenario's
// mapping and app table, and a test project wired to both.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { homedir } from "node:os";
import { expect } from "vitest";
import { newKey, newOrg, newProject } from "./fixtures.mjs";

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite through npm test`);
  return v;
};

export const FAST = {
  STRIPE_RETRY_ATTEMPTS: "3",
  STRIPE_RETRY_BASE_MS: "5",
  STRIPE_RETRY_MAX_MS: "20",
  STRIPE_TIMEOUT_MS: "5000",
  RATE_LIMIT_PROBE_PER_MINUTE: "1000",
  RATE_LIMIT_PROBE_ORG_PER_MINUTE: "1000",
};

export const VENV = process.env.PARITYRAIL_VENV ?? `${homedir()}/.cache/parityrail/venv`;

/** Runs SQL as the app's own writer role. */
export function sql(statement) {
  return execFileSync("psql", [env("PR_PG_WRITER_URL"), "-v", "ON_ERROR_STOP=1", "-qAt", "-c", statement], { encoding: "utf8" });
}

/** The scenario's mapping over `table`. */
export const mappingFor = (table) => ({
  table,
  customer_column: "stripe_customer_id",
  plan_column: "plan",
  premium_column: "is_premium",
  trial_column: "on_trial",
  entitlements: { sso: "feature_sso" },
  plans: { plan_pro: { plan: "pro", rank: 2, entitlements: ["sso"] }, plan_basic: { plan: "basic", rank: 1 } },
  free_plan: "free",
});

/** A fresh app table of this suite's own in the `scratch` schema, with the accounts columns. */
export function scratchTable(prefix) {
  const table = `scratch.${prefix}_${randomBytes(4).toString("hex")}`;
  sql(`CREATE TABLE ${table} (stripe_customer_id text, plan text NOT NULL DEFAULT 'free', is_premium boolean NOT NULL DEFAULT false, on_trial boolean NOT NULL DEFAULT false, feature_sso boolean NOT NULL DEFAULT false)`);
  return table;
}

/** An app row as VALUES: `(customer, plan, premium, false, sso)`. */
export const appRow = (cus, plan, premium, sso) => `('${cus}', '${plan}', ${premium}, false, ${sso})`;

/** The scenario's customers in localstripe (tests/stripe/scenario.py). */
export function scenarioCustomers() {
  return JSON.parse(execFileSync(`${VENV}/bin/python`, ["tests/stripe/scenario.py", env("PR_STRIPE_BASE")], { encoding: "utf8" }));
}

/** A test project (localstripe takes sk_test_ keys only) of a new org, wired to the read
 * database and a Stripe key (with `webhookSecrets`), with `mapping` when given. Returns the
 * org with its test key as `key` (its owner's live key as `liveKey`), and the project. */
export async function wiredProject(w, { webhookSecrets = [], mapping } = {}) {
  const o = await newOrg(w);
  o.liveKey = o.key;
  o.key = (await newKey(w, o.key, { environment: "test" })).key;
  const p = await newProject(w, o.key);
  const db = await w.put(`/v1/projects/${p.id}/integrations/database`, { read_url: env("PR_PG_TLS_READER_URL") }, { key: o.key });
  expect(db.status, db.text).toBe(200);
  const api_key = `sk_test_${randomBytes(12).toString("hex")}`;
  const st = await w.put(`/v1/projects/${p.id}/integrations/stripe`, { api_key, webhook_secrets: webhookSecrets }, { key: o.key });
  expect(st.status, st.text).toBe(200);
  if (mapping) {
    const m = await w.put(`/v1/projects/${p.id}/mapping`, mapping, { key: o.key });
    expect(m.status, m.text).toBe(200);
  }
  return { o, p };
}

/** Seeds `table` with the scenario's app rows: a customer at parity, one paying without
 * access, one canceled but still granted. Returns the scenario's customers. */
export function seedScenario(table) {
  const c = scenarioCustomers();
  sql(`INSERT INTO ${table} (stripe_customer_id, plan, is_premium, on_trial, feature_sso) VALUES ${[
    appRow(c.parity, "pro", true, true),
    appRow(c.missing, "free", false, false),
    appRow(c.canceled_granted, "pro", true, true),
  ].join(", ")}`);
  return c;
}

/** Polls `f` every 150 ms until it returns something truthy (returned), or fails after `ms`
 * saying what it waited for and what `explain()` tells. */
export async function until(what, f, ms = 30_000, explain = () => "") {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${explain()}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
