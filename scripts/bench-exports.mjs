// Export benchmark (a script that prints figures, not a test), on the `wrangler dev` of
// scripts/bench.sh whose project chain holds BENCH_ENTRIES (100,000) entries: an export of the
// whole chain in both formats — wall time from `POST …/exports` to `succeeded`, the workerd
// process's resident memory sampled every 50 ms (its peak during the export against its level
// before), the bundle's size — then the offline verifier (release build) over the downloaded
// bundle: entries/s. Env: BASE, KEY, PID (project), WPGID (wrangler's process group).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const { BASE, KEY, PID, WPGID } = process.env;
const auth = { authorization: `Bearer ${KEY}` };

function workerdPids() {
  const out = execFileSync("ps", ["-eo", "pid,pgid,comm"], { encoding: "utf8" });
  return out.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === WPGID && /workerd/.test(f[2] ?? "")).map((f) => f[0]);
}
function rssMb() {
  let kb = 0;
  for (const pid of workerdPids()) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) kb += Number(m[1]);
    } catch {}
  }
  return kb / 1024;
}

const before = rssMb();
let peak = before;
const sampler = setInterval(() => { peak = Math.max(peak, rssMb()); }, 50);
const t0 = performance.now();
const r = await fetch(`${BASE}/v1/projects/${PID}/exports`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ format: "both" }) });
if (r.status !== 202) throw new Error(`export: ${r.status} ${await r.text()}`);
const { id } = await r.json();
let ex;
for (;;) {
  ex = await (await fetch(`${BASE}/v1/projects/${PID}/exports/${id}`, { headers: auth })).json();
  if (ex.status !== "running") break;
  await new Promise((res) => setTimeout(res, 100));
}
const wall = performance.now() - t0;
clearInterval(sampler);
if (ex.status !== "succeeded") throw new Error(`export ended ${ex.status}: ${ex.error}`);

const dir = mkdtempSync(join(tmpdir(), "bench-bundle-"));
let size = 0;
for (const f of ex.files) {
  const res = await fetch(`${BASE}${f.url}`, { headers: auth });
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length !== f.bytes) throw new Error(`${f.name}: ${body.length} bytes, listed ${f.bytes}`);
  writeFileSync(join(dir, f.name), body);
  size += body.length;
}
writeFileSync(join(dir, "key.pem"), await (await fetch(`${BASE}/v1/org/signing-key`, { headers: auth })).text());
const ssl = spawnSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", join(dir, "key.pem"), "-rawin", "-in", join(dir, "manifest.json"), "-sigfile", join(dir, "manifest.sig")], { encoding: "utf8" });
const v = spawnSync(join(process.env.PR_ROOT ?? ".", "target/release/parityrail-verify"), [dir, "--key", join(dir, "key.pem")], { encoding: "utf8", maxBuffer: 1 << 24 });
const report = JSON.parse(v.stdout);
if (!report.ok) throw new Error(`the verifier refused the bundle: ${JSON.stringify(report.problems)}`);

const mb = (n) => (n / 1048576).toFixed(1);
const files = ex.files.map((f) => `${f.name} ${mb(f.bytes)} MiB`).join(", ");
console.log(JSON.stringify({ entries: ex.count, wall_ms: Math.round(wall), rss_before_mb: before, rss_peak_mb: peak, bundle_bytes: size, verifier: report }));
console.log(`export: ${ex.count} entries (jsonl + csv) in ${(wall / 1000).toFixed(2)} s = ${Math.round(ex.count / wall * 1000)} entries/s`);
console.log(`export: workerd resident memory ${before.toFixed(0)} MiB before, peak ${peak.toFixed(0)} MiB during (+${(peak - before).toFixed(0)} MiB)`);
console.log(`export: bundle ${mb(size)} MiB (${files})`);
console.log(`export: openssl pkeyutl -verify: ${ssl.stdout.trim() || ssl.stderr.trim()}`);
console.log(`verifier: ${report.entries_checked} entries per file, ${report.files.length} files, in ${report.seconds.toFixed(2)} s = ${report.entries_per_second} entries/s`);
