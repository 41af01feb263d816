// Applies the D1 migrations once, with wrangler itself (the same path `npm start` and a
// deployment use), into a template state folder that every test's Miniflare copies.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const TEMPLATE = join(ROOT, ".tmp", "e2e", "template");
export const ROUTES_FILE = join(ROOT, ".tmp", "e2e-routes.json");

export default function setup() {
  for (const dir of ["build", "build-coordinator"]) {
    if (!existsSync(join(ROOT, dir, "index.js"))) {
      throw new Error(`${dir}/index.js is missing: run \`bash scripts/build.sh\` (npm test does)`);
    }
  }
  // Each test file's Miniflare works on a copy under .tmp/e2e; start from an empty folder.
  rmSync(join(ROOT, ".tmp", "e2e"), { recursive: true, force: true });
  mkdirSync(TEMPLATE, { recursive: true });
  // The route table from the one declaration in core/src/api/routes.rs (the security suite walks it).
  const routes = execFileSync("cargo", ["run", "-q", "--locked", "-p", "parityrail-core", "--example", "routes"], { cwd: ROOT, encoding: "utf8" });
  writeFileSync(ROUTES_FILE, routes);
  execFileSync(
    join(ROOT, "node_modules", ".bin", "wrangler"),
    ["d1", "migrations", "apply", "DB", "--local", "--persist-to", TEMPLATE],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, CI: "true" } },
  );
}
