// What the wrangler-dev benchmarks share: a Stripe-shaped server that counts reads, SQL as the
// app's writer, wrangler dev on its own local state, the API client and percentiles.
import { createServer } from "node:http";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT, devConfigs } from "./workers.mjs";

export { ROOT };

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: start PostgreSQL with scripts/pg.sh and source .tmp/pg/env`);
  return v;
};

export const psql = (sql) => execFileSync("psql", [env("PR_PG_WRITER_URL"), "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql], { encoding: "utf8" });

export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** A Stripe-shaped server: every customer exists and has one active subscription to
 * `price_pro`. `reads` counts customer re-reads and subscription lists. */
export async function stripeServer() {
  const reads = { customer: 0, subscriptions: 0, other: 0 };
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const send = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    let m;
    if (url.pathname === "/v1/account") return send(200, { id: "acct_bench" });
    if ((m = /^\/v1\/customers\/(cus_\w+)$/.exec(url.pathname))) {
      reads.customer += 1;
      return send(200, { id: m[1], object: "customer" });
    }
    if (url.pathname === "/v1/subscriptions") {
      reads.subscriptions += 1;
      const c = url.searchParams.get("customer");
      return send(200, { object: "list", has_more: false, data: [{ id: `sub_${c}`, customer: c, status: "active", items: { object: "list", has_more: false, data: [{ id: `si_${c}`, price: { id: "price_pro", product: "prod_pro" } }] } }] });
    }
    reads.other += 1;
    return send(404, { error: { type: "invalid_request_error" } });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { reads, base: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/** Rate limits raised out of a benchmark's way. */
export const NO_LIMITS = {
  RATE_LIMIT_KEY_PER_MINUTE: "100000000",
  RATE_LIMIT_IP_PER_MINUTE: "100000000",
  RATE_LIMIT_PROBE_PER_MINUTE: "100000",
  RATE_LIMIT_PROBE_ORG_PER_MINUTE: "100000",
};

/** `wrangler dev` of both workers (the edge on `port`, the coordinator behind it) with their own
 * fresh local state (migrations applied) and `vars`, which reach both (an operator token and an
 * encryption key are added). `prebuilt` serves the workers build/ and build-coordinator/ hold
 * (the e2e suite's build, which a rebuild would replace); otherwise they are built first. The
 * dashboard's [assets] are left out: this wrangler (4.86, the newest that runs on Node 20)
 * cannot trigger the cron over HTTP once assets are configured (`/cdn-cgi/handler/scheduled`
 * answers `exception`: workers-sdk #9882, fixed in wrangler 4.98, which needs Node 22), and the
 * benchmarks and the wrangler dev test need the cron, not the pages. With `logs`, the worker's log lines
 * (one JSON line per request, with its in-worker `ms`) are kept and `workerMs(path)` returns
 * the `ms` of every logged request whose URL starts with `path`. Returns
 * `{base, op, call, stop, workerMs}`. */
export async function startWrangler(port, vars, prefix, { logs = false, prebuilt = false } = {}) {
  const op = `op_${randomBytes(24).toString("hex")}`;
  const state = mkdtempSync(join(ROOT, ".tmp", `${prefix}-`));
  execFileSync(join(ROOT, "node_modules/.bin/wrangler"), ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], { cwd: ROOT, stdio: "ignore", env: { ...process.env, CI: "true" } });
  const all = { OPERATOR_TOKEN: op, CREDENTIALS_ENCRYPTION_KEY: `k1:${randomBytes(32).toString("base64")}`, ...vars };
  if (!prebuilt) execFileSync("bash", [join(ROOT, "scripts", "build.sh")], { cwd: ROOT, stdio: "ignore" });
  const configs = devConfigs(join(state, "config"), { assets: false, vars: all });
  const base = `http://127.0.0.1:${port}`;
  try {
    await fetch(`${base}/healthz`);
    throw new Error(`port ${port} is taken (an earlier wrangler dev?)`);
  } catch (e) {
    if (String(e.message).startsWith("port")) throw e;
  }
  const wrangler = spawn(
    join(ROOT, "node_modules/.bin/wrangler"),
    ["dev", ...configs, "--local", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--log-level", logs ? "log" : "warn"],
    { cwd: ROOT, detached: true, stdio: ["ignore", logs ? "pipe" : "ignore", logs ? "pipe" : "ignore"] },
  );
  let out = "";
  if (logs) {
    wrangler.stdout.on("data", (d) => { out += d.toString(); });
    wrangler.stderr.on("data", (d) => { out += d.toString(); });
  }
  const workerMs = (path) =>
    out
      .split("\n")
      .map((l) => l.slice(l.indexOf("{")))
      .filter((l) => l.startsWith("{") && l.includes('"ms"'))
      .map((l) => { try { return JSON.parse(l); } catch { return null; } })
      .filter((j) => j && typeof j.url === "string" && j.url.startsWith(path) && typeof j.ms === "number")
      .map((j) => j.ms);
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch { /* not yet */ }
    if (i > 600) throw new Error("wrangler dev did not start");
    await new Promise((r) => setTimeout(r, 500));
  }
  const call = async (method, path, key, body) => {
    const r = await fetch(base + path, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
    const json = await r.json();
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
  const stop = async () => {
    // wrangler dev and its workerd form one process group: end all of it.
    for (const sig of ["SIGINT", "SIGKILL"]) {
      try { process.kill(-wrangler.pid, sig); } catch { /* gone */ }
      await new Promise((r) => setTimeout(r, 1000));
    }
    rmSync(state, { recursive: true, force: true });
  };
  return { base, op, call, stop, workerMs, output: () => out };
}
