// Applies the D1 migrations once, with wrangler itself (the same path `npm start` and a
// deployment use), into a template state folder that every test's Miniflare copies.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const TEMPLATE = join(ROOT, ".tmp", "e2e", "template");

export default function setup() {
  if (!existsSync(join(ROOT, "build", "index.js"))) {
    throw new Error("build/index.js is missing: run `bash scripts/build.sh` (npm test does)");
  }
  // Each test file's Miniflare works on a copy under .tmp/e2e; start from an empty folder.
  rmSync(join(ROOT, ".tmp", "e2e"), { recursive: true, force: true });
  mkdirSync(TEMPLATE, { recursive: true });
  execFileSync(
    join(ROOT, "node_modules", ".bin", "wrangler"),
    ["d1", "migrations", "apply", "DB", "--local", "--persist-to", TEMPLATE],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, CI: "true" } },
  );
}
