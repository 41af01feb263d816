// The two workers as the tests and benchmarks start them in Miniflare (ARCHITECTURE.md, "Two
// workers"): the edge (build/, wrangler.toml), which every request reaches first, and the
// coordinator (build-coordinator/, wrangler.coordinator.toml), which the edge reaches only
// through its PROJECT_COORDINATOR binding. Both name the same D1 database and R2 bucket, so with
// Miniflare's shared persistence options they share their state, as they do when deployed.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = new URL("..", import.meta.url).pathname;
export const COORDINATOR_SCRIPT = "parityrail-coordinator";

const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
export const D1_ID = /database_id\s*=\s*"([^"]+)"/.exec(toml)[1];
export const COMPAT_DATE = /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)[1];

const script = (dir) => ({
  scriptPath: join(ROOT, dir, "index.js"),
  modules: true,
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate: COMPAT_DATE,
  d1Databases: { DB: D1_ID },
  r2Buckets: ["EXPORTS"],
});

/** Miniflare's `workers` (the edge first: `dispatchFetch`, `getWorker`, `getD1Database` and
 * `getR2Bucket` reach it). `both` (bindings, outboundService…) goes to each worker, so every
 * variable and secret a test sets reaches the coordinator too; `edge` to the edge only. */
export function miniflareWorkers({ both = {}, edge = {}, rateLimiter = true } = {}) {
  return [
    {
      name: "parityrail",
      ...script("build"),
      durableObjects: {
        PROJECT_COORDINATOR: { className: "ProjectCoordinator", scriptName: COORDINATOR_SCRIPT },
        ...(rateLimiter ? { RATE_LIMITER: { className: "RateLimiter", useSQLite: true } } : {}),
      },
      ...both,
      ...edge,
    },
    {
      name: COORDINATOR_SCRIPT,
      ...script("build-coordinator"),
      durableObjects: { PROJECT_COORDINATOR: { className: "ProjectCoordinator", useSQLite: true } },
      ...both,
    },
  ];
}

/** `wrangler dev` configurations of both workers in `dir` (wrangler.toml and
 * wrangler.coordinator.toml, paths made absolute), serving what build/ and build-coordinator/
 * hold (without their [build]: build first); `assets: false` leaves the dashboard's [assets]
 * out. `vars` are written to `dir/.dev.vars` (owner-only), which wrangler reads for each
 * configuration in that folder: `--var` reaches only the first worker. Returns the `-c`
 * arguments, the edge first (it takes the port). */
export function devConfigs(dir, { assets = true, vars = {} } = {}) {
  mkdirSync(dir, { recursive: true });
  const args = [];
  for (const name of ["wrangler.toml", "wrangler.coordinator.toml"]) {
    let t = readFileSync(join(ROOT, name), "utf8")
      .replace(/^\[build\]\n(?:[^\[\n].*\n)*/m, "")
      .replace(/^main = "([^"]+)"$/m, (_, p) => `main = "${join(ROOT, p)}"`)
      .replace(/^migrations_dir = "([^"]+)"$/m, (_, p) => `migrations_dir = "${join(ROOT, p)}"`)
      .replace(/^directory = "\.\/([^"]+)"$/m, (_, p) => `directory = "${join(ROOT, p)}"`);
    if (!assets) t = t.replace(/^\[assets\]\n(?:[^\[\n].*\n)*/m, "");
    writeFileSync(join(dir, name), t);
    args.push("-c", join(dir, name));
  }
  const lines = Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(String(v))}\n`);
  writeFileSync(join(dir, ".dev.vars"), lines.join(""), { mode: 0o600 });
  // The mode applies only to a new file: an older one is made owner-only too.
  chmodSync(join(dir, ".dev.vars"), 0o600);
  return args;
}

// From a shell: node scripts/workers.mjs dev-configs DIR [--no-assets] [NAME=VALUE ...]
// writes them and prints the `-c` arguments, one a line.
if (process.argv[1] === new URL(import.meta.url).pathname && process.argv[2] === "dev-configs") {
  const [dir, ...rest] = process.argv.slice(3);
  const vars = Object.fromEntries(rest.filter((a) => a.includes("=")).map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]));
  console.log(devConfigs(dir, { assets: !rest.includes("--no-assets"), vars }).join("\n"));
}
