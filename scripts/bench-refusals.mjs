// Refused webhook deliveries benchmark (a script that prints figures, not a test), through
// `wrangler dev`: BENCH_REFUSALS (300) deliveries of exactly 1 MiB, each signed with a wrong
// secret, to each of a project with two webhook secrets, a project with none and a project id
// no project has, sent in turn (one of each, then the next) so the machine's noise falls on all
// three alike. Prints the median and p90 of the worker's own time per request (the `ms` of its
// log line) and of the time seen by the client, per target. Target: the three medians agree
// within 1 ms, so timing does not tell whether an id is known or how many secrets it has.
import { createHmac, randomBytes } from "node:crypto";
import { NO_LIMITS, pct, startWrangler, stripeServer } from "./bench-lib.mjs";

const N = Number(process.env.BENCH_REFUSALS ?? 300);
const PORT = Number(process.env.BENCH_REFUSALS_PORT ?? 8797);
const stripe = await stripeServer();
const wd = await startWrangler(PORT, { STRIPE_API_BASE: stripe.base, ...NO_LIMITS }, "bench-refusals", { logs: true });
const { base, call } = wd;

try {
  const org = await call("POST", "/v1/operator/orgs", wd.op, { name: "Refusals", owner_email: "refusals@example.com" });
  const key = (await call("POST", "/v1/keys", org.key.key, { name: "bench", environment: "test", capability: "repair" })).key;
  const project = async (name, secrets) => {
    const pid = (await call("POST", "/v1/projects", key, { name })).id;
    await call("PUT", `/v1/projects/${pid}/integrations/stripe`, key, { api_key: `sk_test_${randomBytes(12).toString("hex")}`, webhook_secrets: secrets });
    return pid;
  };
  const targets = {
    two_secrets: await project("two", [`whsec_${randomBytes(16).toString("hex")}`, `whsec_${randomBytes(16).toString("hex")}`]),
    no_secret: await project("none", []),
    unknown_id: "prj_" + "7".repeat(22),
  };
  const body = Buffer.alloc(1024 * 1024, 0x20);
  const wrong = `whsec_${randomBytes(16).toString("hex")}`;
  const client = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
  const deliver = async (pid) => {
    const t = Math.floor(Date.now() / 1000);
    const sig = `t=${t},v1=${createHmac("sha256", wrong).update(`${t}.`).update(body).digest("hex")}`;
    const s = performance.now();
    const r = await fetch(`${base}/webhooks/stripe/${pid}`, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": sig }, body });
    await r.arrayBuffer();
    if (r.status !== 400) throw new Error(`a refused delivery answered ${r.status}`);
    return performance.now() - s;
  };
  // Warm up the isolate and the connections.
  for (let i = 0; i < 10; i++) for (const pid of Object.values(targets)) await deliver(pid);
  const seen = wd.workerMs(`/webhooks/stripe/`).length;
  for (let i = 0; i < N; i++) for (const [k, pid] of Object.entries(targets)) client[k].push(await deliver(pid));
  await new Promise((r) => setTimeout(r, 1000));
  // The worker's log lines, in order, after the warm-up: one per delivery, targets in turn.
  const logged = wd.workerMs(`/webhooks/stripe/`).slice(seen);
  const worker = Object.fromEntries(Object.keys(targets).map((k, j) => [k, logged.filter((_, i) => i % 3 === j)]));
  const fmt = (xs) => `median ${pct(xs, 50).toFixed(2)} ms, p90 ${pct(xs, 90).toFixed(2)} ms`;
  console.log(`refused 1 MiB deliveries, ${N} to each target, in turn:`);
  for (const k of Object.keys(targets)) {
    console.log(`  ${k.padEnd(12)} worker: ${fmt(worker[k])} (${worker[k].length} logged); client: ${fmt(client[k])}`);
  }
  const spread = (m) => Math.max(...m) - Math.min(...m);
  const wm = Object.values(worker).map((xs) => pct(xs, 50));
  const cm = Object.values(client).map((xs) => pct(xs, 50));
  console.log(`  spread of the medians: worker ${spread(wm).toFixed(2)} ms, client ${spread(cm).toFixed(2)} ms (target: within 1 ms)`);
  console.log(JSON.stringify({ refusals: { n: N, worker_medians: wm, client_medians: cm, worker_spread_ms: spread(wm), client_spread_ms: spread(cm) } }));
} finally {
  await wd.stop();
  stripe.close();
}
