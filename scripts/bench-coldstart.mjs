// Cold start of the built workers: a fresh Miniflare with both (new isolates, both wasm compiled
// and instantiated: "runtime ready") until the edge's first answer to GET /healthz and to an
// authenticated GET /v1/org (neither reaches the coordinator). Prints the median of N runs and
// each wasm's size (raw and gzip -9). Run by `npm run bench`.
import { Miniflare } from "miniflare";
import { readFileSync, mkdtempSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { ROOT, miniflareWorkers } from "./workers.mjs";

const RUNS = Number(process.env.COLD_RUNS ?? 7);
const state = mkdtempSync(join(ROOT, ".tmp", "cold-"));
execFileSync(join(ROOT, "node_modules/.bin/wrangler"), ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], {
  cwd: ROOT, stdio: "ignore", env: { ...process.env, CI: "true" },
});
const OP = "op_" + randomBytes(24).toString("hex");

async function once(key) {
  const t0 = performance.now();
  const mf = new Miniflare({
    workers: miniflareWorkers({ both: { bindings: { OPERATOR_TOKEN: OP, CREDENTIALS_ENCRYPTION_KEY: "k1:" + randomBytes(32).toString("base64") } } }),
    d1Persist: join(state, "v3", "d1"),
    durableObjectsPersist: join(state, "v3", "do"),
    r2Persist: join(state, "v3", "r2"),
  });
  await mf.ready;
  const t1 = performance.now();
  const h = await mf.dispatchFetch("http://localhost/healthz");
  await h.text();
  const t2 = performance.now();
  let created;
  if (!key) {
    const r = await mf.dispatchFetch("http://localhost/v1/operator/orgs", { method: "POST", headers: { authorization: `Bearer ${OP}`, "content-type": "application/json" }, body: JSON.stringify({ name: "Cold", owner_email: "c@example.com" }) });
    created = (await r.json()).key.key;
  }
  const t3 = performance.now();
  const o = await mf.dispatchFetch("http://localhost/v1/org", { headers: { authorization: `Bearer ${key ?? created}` } });
  await o.text();
  const t4 = performance.now();
  await mf.dispose();
  return { key: key ?? created, ready: t1 - t0, healthz: t2 - t1, org: t4 - t3 };
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const first = await once();
const runs = [];
for (let i = 0; i < RUNS; i++) runs.push(await once(first.key));
for (const dir of ["build", "build-coordinator"]) {
  const wasm = readFileSync(join(ROOT, dir, "index_bg.wasm"));
  console.log(`${dir} wasm: ${(wasm.length / 1024).toFixed(0)} KiB raw, ${(gzipSync(wasm, { level: 9 }).length / 1024).toFixed(0)} KiB gzip -9`);
}
console.log(`cold start (median of ${RUNS}): runtime ready ${median(runs.map((r) => r.ready)).toFixed(0)} ms, first /healthz ${median(runs.map((r) => r.healthz)).toFixed(1)} ms, first authenticated GET /v1/org ${median(runs.map((r) => r.org)).toFixed(1)} ms`);
