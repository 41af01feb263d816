// Load generator for scripts/bench.sh: bootstraps an org and a project, then sends REQUESTS
// authenticated GET /v1/org with CONCURRENCY in flight and prints figures to stderr; prints the
// ids the shell script needs as JSON on stdout. Bounded in count; loopback only.
const base = process.env.BASE;
const n = Number(process.env.REQUESTS);
const c = Number(process.env.CONCURRENCY);

async function call(method, path, key, body) {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const json = await r.json();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

const org = await call("POST", "/v1/operator/orgs", process.env.OP_TOKEN, { name: "Bench", owner_email: "bench@example.com" });
const key = org.key.key;
const project = await call("POST", "/v1/projects", key, { name: "bench" });

for (let i = 0; i < 50; i++) await call("GET", "/v1/org", key); // warm-up
const latencies = [];
let next = 0;
let errors = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: c }, async () => {
    while (next < n) {
      next++;
      const s = performance.now();
      const r = await fetch(base + "/v1/org", { headers: { authorization: `Bearer ${key}` } });
      await r.arrayBuffer();
      if (r.status !== 200) errors++;
      latencies.push(performance.now() - s);
    }
  }),
);
const secs = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);
console.error(
  `auth requests: ${latencies.length} GET /v1/org, concurrency ${c}: ${(latencies.length / secs).toFixed(0)} req/s, ` +
    `p50 ${pct(50)} ms, p99 ${pct(99)} ms, non-200: ${errors}`,
);
const audit = await call("GET", `/v1/projects/${project.id}/audit`, key);
console.log(JSON.stringify({ key, org: org.org.id, project: project.id, head_hash: audit.data.at(-1).hash }));
