// Starts the built workers (build/index.js, the edge every request reaches, and
// build-coordinator/index.js, the ProjectCoordinator's worker behind it) in one Miniflare with
// real D1, Durable Objects and R2 shared between them, each test file on its own copy of the
// migrated D1 template. Everything the runtime prints (both workers) is captured in `logs` so
// tests can assert that no secret ever reaches a log line.
import { Miniflare } from "miniflare";
import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ROOT, TEMPLATE } from "./global-setup.mjs";
import { miniflareWorkers } from "../../scripts/workers.mjs";

// The private CA that signed the test PostgreSQL's certificate (scripts/pg.sh). A worker trusts it
// through its outbound network, the way the production runtime trusts public CAs; workerd applies
// that trust to StartTLS on `connect()` sockets too.
const TEST_CA = process.env.PR_PG_CA_FILE ? readFileSync(process.env.PR_PG_CA_FILE, "utf8") : undefined;

export const OPERATOR_TOKEN = "op_" + randomBytes(24).toString("hex");
export const ENCRYPTION_KEY = "k1:" + randomBytes(32).toString("base64");

/** `vars` reach both workers, as the variables and secrets of both scripts. */
/** `reuseState` restarts a runtime on an earlier worker's storage (a new isolate, same D1/DO/R2). */
/** `withoutRateLimiter` leaves the RATE_LIMITER binding out (to show that limits fail closed). */
/** `trustTestCa: false` leaves the test CA out: the test server's certificate is then untrusted. */
export async function startWorker(vars = {}, { reuseState, withoutRateLimiter, trustTestCa = true } = {}) {
  let state = reuseState;
  if (!state) {
    state = mkdtempSync(join(ROOT, ".tmp", "e2e", "run-"));
    cpSync(TEMPLATE, state, { recursive: true });
  }
  const logs = [];
  const collect = (stream) => stream.on("data", (chunk) => logs.push(chunk.toString()));
  const mf = new Miniflare({
    workers: miniflareWorkers({
      rateLimiter: !withoutRateLimiter,
      both: {
        ...(TEST_CA && trustTestCa
          ? {
              outboundService: {
                network: {
                  allow: ["public", "private", "240.0.0.0/4"],
                  deny: [],
                  tlsOptions: { trustBrowserCas: true, trustedCertificates: [TEST_CA] },
                },
              },
            }
          : {}),
        bindings: {
          STRIPE_API_BASE: "http://127.0.0.1:9",
          RATE_LIMIT_KEY_PER_MINUTE: "100000",
          RATE_LIMIT_IP_PER_MINUTE: "100000",
          RATE_LIMIT_PROBE_PER_MINUTE: "100000",
          SECURITY_CONTACT: "mailto:security@parityrail.dev",
          OPERATOR_TOKEN,
          CREDENTIALS_ENCRYPTION_KEY: ENCRYPTION_KEY,
          ...vars,
        },
      },
      edge: {
        // As wrangler.toml's [assets]: the dashboard's files, the API always worker-first.
        assets: {
          directory: join(ROOT, "dashboard"),
          binding: "ASSETS",
          routerConfig: {
            has_user_worker: true,
            static_routing: { user_worker: ["/v1", "/v1/*", "/webhooks/*", "/healthz", "/security-policy", "/.well-known/*", "/mcp"] },
          },
          assetConfig: { html_handling: "auto-trailing-slash", not_found_handling: "single-page-application" },
        },
      },
    }),
    // Shared by both workers: one D1 database, one R2 bucket, the coordinators' storage.
    d1Persist: join(state, "v3", "d1"),
    durableObjectsPersist: join(state, "v3", "do"),
    r2Persist: join(state, "v3", "r2"),
    handleRuntimeStdio(stdout, stderr) {
      collect(stdout);
      collect(stderr);
    },
  });
  const url = await mf.ready;
  return new Worker(mf, logs, state, url);
}

let ipCounter = 0;
let addressCounter = 0;
function nextAddress() {
  addressCounter += 1;
  return `100.64.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
}

export class Worker {
  constructor(mf, logs, state, url) {
    this.mf = mf;
    this.logs = logs;
    this.state = state;
    /** The worker's address on this machine (for clients that speak HTTP themselves). */
    this.url = url;
    /** Every response body (with its status and headers) this worker returned, for secret scans. */
    this.seen = [];
  }

  /** Raw request; `ip` sets CF-Connecting-IP (by default every request gets its own address, so
   * only tests that name an address share a client's failure budget). */
  async request(method, path, { key, body, headers = {}, ip = nextAddress(), raw } = {}) {
    const h = { "cf-connecting-ip": ip, ...headers };
    if (key) h.authorization = `Bearer ${key}`;
    let payload;
    if (raw !== undefined) payload = raw;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      h["content-type"] = "application/json";
    }
    const res = await this.mf.dispatchFetch(`http://localhost${path}`, { method, headers: h, body: payload });
    const text = await res.text();
    this.seen.push(`${res.status} ${JSON.stringify([...res.headers])} ${text}`);
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  get(path, opts) {
    return this.request("GET", path, opts);
  }
  post(path, body, opts = {}) {
    return this.request("POST", path, { ...opts, body });
  }
  patch(path, body, opts = {}) {
    return this.request("PATCH", path, { ...opts, body });
  }
  put(path, body, opts = {}) {
    return this.request("PUT", path, { ...opts, body });
  }
  delete(path, opts) {
    return this.request("DELETE", path, opts);
  }

  async d1() {
    return this.mf.getD1Database("DB");
  }

  async scheduled(cron = "*/5 * * * *") {
    const worker = await this.mf.getWorker();
    return worker.scheduled({ cron });
  }

  /** Every row of every table, as text (for secret scans), minus the columns named in `skip`. */
  async dumpD1(skip = {}) {
    const db = await this.d1();
    const tables = (await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'").all()).results;
    const out = [];
    for (const { name } of tables) {
      for (const row of (await db.prepare(`SELECT * FROM "${name}"`).all()).results) {
        for (const col of skip[name] ?? []) delete row[col];
        out.push(`${name} ${JSON.stringify(row)}`);
      }
    }
    return out.join("\n");
  }

  async dispose() {
    await this.mf.dispose();
  }
}

/** A fresh unique client IP so rate-limit buckets of different tests never meet. */
export function freshIp() {
  ipCounter += 1;
  return `198.51.100.${ipCounter % 250}`;
}
