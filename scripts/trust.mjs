#!/usr/bin/env node
// Generates the public Trust page (SPEC §11, issue 21) from the latest test reports:
// dashboard/trust/index.html and dashboard/trust/trust.css. No dependencies, no JavaScript in
// the page, no inline style (the dashboard's CSP is `default-src 'none'; style-src 'self' …`).
//
//   node scripts/trust.mjs [--reports .tmp] [--out dashboard/trust]
//                          [--controls trust/controls.json] [--content trust/content.json]
//   node scripts/trust.mjs --check-sources [--controls trust/controls.json] [--root .]
// Relative paths are taken from the repository root (or --root).
//
// The reports are the files `npm test` writes (scripts/test.sh): cargo-test.log (cargo test
// output), vitest.json (vitest's JSON reporter), layout-test.json and demo-test.json
// ({passed, failed, tests: [names], results?: [{name, status}]}), and test-commit.txt (the
// commit the run started at; a report older than it is left over from an earlier run and is not
// used). A control is `passed` only
// when every test it names passed in them; `failed` when any failed; `missing` when a named
// test has no result (absent, ignored or skipped, or a runner that failed without saying which
// test); `not run` when there is no report of its runners at all.
//
// A test reference in trust/controls.json is one of
//   {"runner": "cargo", "name": "domain::apikey::tests::a_generated_key_has_the_documented_shape"}
//   {"runner": "vitest", "file": "tests/e2e/keys.test.mjs", "name": "<the test's full name>"}
//   {"runner": "vitest", "file": "tests/e2e/security.test.mjs", "title": "<a test title>"}
//       (every test of that file with this title: one check run for each route, say)
//   {"runner": "layout" | "demo", "name": "<a name in the report's tests list>"}
// --check-sources checks that every one of them still exists in the test sources.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const STATUSES = ["passed", "failed", "missing", "not run"];
const RUN_FILE = "test-commit.txt";
const RUNNERS = {
  cargo: { file: "cargo-test.log", label: "cargo test" },
  vitest: { file: "vitest.json", label: "vitest (end-to-end)" },
  layout: { file: "layout-test.json", label: "layout tests" },
  demo: { file: "demo-test.json", label: "demo tests" },
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value) {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

// ---------------------------------------------------------------- reading the reports

/** `test path::name ... ok|FAILED|ignored` lines → Map name → [status]. */
export function parseCargoLog(text) {
  const results = new Map();
  for (const line of text.split(/\r?\n/)) {
    const m = /^test (.+?) \.\.\. (ok|FAILED|ignored)(?:, .*)?$/.exec(line);
    if (!m) continue;
    const status = m[2] === "ok" ? "passed" : m[2] === "FAILED" ? "failed" : "skipped";
    if (!results.has(m[1])) results.set(m[1], []);
    results.get(m[1]).push(status);
  }
  return results;
}

function vitestStatus(s) {
  if (s === "passed") return "passed";
  if (s === "failed") return "failed";
  return "skipped"; // skipped, pending, todo, disabled
}

/** vitest's JSON report → [{file (as reported), fullName, title, status}] and broken files. */
export function parseVitest(json) {
  const tests = [];
  const brokenFiles = [];
  for (const file of json.testResults ?? []) {
    const assertions = file.assertionResults ?? [];
    if (file.status === "failed" && assertions.length === 0) brokenFiles.push(file.name);
    for (const a of assertions) {
      tests.push({ file: file.name, fullName: a.fullName, title: a.title, status: vitestStatus(a.status) });
    }
  }
  return { tests, brokenFiles };
}

function sameFile(reported, wanted) {
  const r = reported.split(path.sep).join("/");
  return r === wanted || r.endsWith(`/${wanted}`);
}

/** layout-test.json / demo-test.json → Map name → status ("unknown" when the report has
 * failures but does not say which test had them). */
export function parseSummaryJson(json) {
  const results = new Map();
  if (Array.isArray(json.results)) {
    for (const r of json.results) results.set(r.name, r.status === "passed" ? "passed" : r.status === "failed" ? "failed" : "skipped");
    return results;
  }
  const allPassed = Number(json.failed) === 0;
  for (const name of json.tests ?? []) results.set(name, allPassed ? "passed" : "unknown");
  return results;
}

function fileInfo(file) {
  const st = fs.statSync(file);
  return { path: file, mtime: st.mtime };
}

/** The run the reports belong to: `test-commit.txt` in the reports folder, written when a test
 * run starts (its first line is the commit). null when there is none. */
export function readRun(dir) {
  const p = path.join(dir, RUN_FILE);
  try {
    const commit = fs.readFileSync(p, "utf8").split("\n")[0].trim();
    return { commit: commit || null, started: fs.statSync(p).mtime };
  } catch {
    return null;
  }
}

/** Reads every report in `dir`; a runner whose report is absent is `null`. A report written
 * before the run in test-commit.txt started is from an earlier run: `{stale: true, …}`. */
export function readReports(dir) {
  const reports = {};
  const run = readRun(dir);
  for (const [runner, { file }] of Object.entries(RUNNERS)) {
    const p = path.join(dir, file);
    if (!fs.existsSync(p)) {
      reports[runner] = null;
      continue;
    }
    if (run && fs.statSync(p).mtime < run.started) {
      reports[runner] = { path: p, mtime: fs.statSync(p).mtime, stale: true };
      continue;
    }
    try {
      const text = fs.readFileSync(p, "utf8");
      const info = fileInfo(p);
      if (runner === "cargo") {
        const results = parseCargoLog(text);
        const totals = { passed: 0, failed: 0, other: 0 };
        for (const list of results.values()) for (const s of list) totals[s === "passed" || s === "failed" ? s : "other"]++;
        reports.cargo = { ...info, results, totals };
      } else if (runner === "vitest") {
        const parsed = parseVitest(JSON.parse(text));
        const totals = { passed: 0, failed: 0, other: 0 };
        for (const t of parsed.tests) totals[t.status === "passed" || t.status === "failed" ? t.status : "other"]++;
        reports.vitest = { ...info, ...parsed, totals };
      } else {
        const json = JSON.parse(text);
        const results = parseSummaryJson(json);
        const totals = { passed: Number(json.passed) || 0, failed: Number(json.failed) || 0, other: 0 };
        reports[runner] = { ...info, results, totals };
      }
    } catch (e) {
      reports[runner] = { path: p, mtime: null, error: `unreadable: ${e.message}`, results: new Map(), tests: [], brokenFiles: [], totals: { passed: 0, failed: 0, other: 0 } };
    }
  }
  return reports;
}

// ---------------------------------------------------------------- judging the controls

/** Describes a test reference in one line (for the page and for errors). */
export function refLabel(ref) {
  if (ref.runner === "vitest") return ref.title !== undefined ? `${ref.file}: every test titled “${ref.title}”` : `${ref.file}: ${ref.name}`;
  return ref.name;
}

/** The result of one reference: {status: passed|failed|missing|not run, detail, count}. */
export function judgeRef(ref, reports) {
  const report = reports[ref.runner];
  if (report === undefined) return { status: "missing", detail: `unknown runner ${ref.runner}`, count: 0 };
  if (report === null) return { status: "not run", detail: `no ${RUNNERS[ref.runner].file} report`, count: 0 };
  if (report.stale) return { status: "not run", detail: `the ${RUNNERS[ref.runner].file} report is from an earlier run`, count: 0 };
  if (report.error) return { status: "missing", detail: `the ${RUNNERS[ref.runner].file} report is ${report.error}`, count: 0 };
  let statuses;
  if (ref.runner === "vitest") {
    const inFile = report.tests.filter((t) => sameFile(t.file, ref.file));
    const matched = ref.title !== undefined ? inFile.filter((t) => t.title === ref.title) : inFile.filter((t) => t.fullName === ref.name);
    statuses = matched.map((t) => t.status);
    if (statuses.length === 0) {
      const broken = report.brokenFiles.some((f) => sameFile(f, ref.file));
      return { status: "missing", detail: broken ? "its file failed to run" : "not in the report", count: 0 };
    }
  } else if (ref.runner === "cargo") {
    statuses = report.results.get(ref.name) ?? [];
  } else {
    const s = report.results.get(ref.name);
    statuses = s === undefined ? [] : [s];
  }
  const count = statuses.length;
  if (count === 0) return { status: "missing", detail: "not in the report", count };
  const failed = statuses.filter((s) => s === "failed").length;
  if (failed > 0) return { status: "failed", detail: count > 1 ? `${failed} of ${count} failed` : "failed", count };
  if (statuses.includes("unknown")) return { status: "missing", detail: "the report counts failures without naming the tests", count };
  const skipped = statuses.filter((s) => s !== "passed").length;
  if (skipped > 0) return { status: "missing", detail: count > 1 ? `${skipped} of ${count} ignored or skipped` : "ignored or skipped", count };
  return { status: "passed", detail: count > 1 ? `${count} passed` : "passed", count };
}

/** A control's status from its references': failed > missing > not run > passed. */
export function judgeControl(control, reports) {
  const tests = (control.tests ?? []).map((ref) => ({ ref, ...judgeRef(ref, reports) }));
  let status = "passed";
  if (tests.length === 0) status = "missing";
  else if (tests.some((t) => t.status === "failed")) status = "failed";
  else if (tests.some((t) => t.status === "missing")) status = "missing";
  else if (tests.some((t) => t.status === "not run")) status = "not run";
  return { ...control, status, tests };
}

// ---------------------------------------------------------------- the test sources

function walk(dir, keep, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name === "target" || e.name.startsWith(".")) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, keep, out);
    else if (keep(p)) out.push(p);
  }
  return out;
}

const STRING = /"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`/g;
function unescapeJs(s) {
  return s.replace(/\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)/g, (_, c) => {
    if (c[0] === "u") return String.fromCodePoint(parseInt(c.replace(/[u{}]/g, ""), 16));
    if (c[0] === "x" && c.length === 3) return String.fromCharCode(parseInt(c.slice(1), 16));
    return { n: "\n", t: "\t", r: "\r" }[c] ?? c;
  });
}
/** A describe/it title as written (with `%s`, `$name` or `${…}` placeholders) → a RegExp. */
function titlePattern(raw) {
  const parts = raw.split(/(\$\{[^}]*\}|%[sdifjo#%]|\$[A-Za-z_][\w.]*)/);
  const re = parts.map((p, i) => (i % 2 === 1 ? (p === "%%" ? "%" : "[\\s\\S]+") : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("");
  return new RegExp(`^${re}$`);
}
/** Titles given to describe/it/test (also .each, .skip, .only, .concurrent) in a test file. */
export function vitestTitles(source) {
  const suites = [];
  const tests = [];
  const call = /\b(describe|it|test)((?:\.\w+)*)\s*(?:\([^()]*(?:\([^()]*\)[^()]*)*\)\s*)?\(\s*/g;
  let m;
  while ((m = call.exec(source))) {
    STRING.lastIndex = call.lastIndex;
    const s = STRING.exec(source);
    if (!s || s.index !== call.lastIndex) continue;
    const raw = unescapeJs(s[1] ?? s[2] ?? s[3]);
    (m[1] === "describe" ? suites : tests).push(titlePattern(raw));
  }
  return { suites, tests };
}

function vitestRefExists(ref, root) {
  const file = path.join(root, ref.file);
  if (!fs.existsSync(file)) return `no file ${ref.file}`;
  const { suites, tests } = vitestTitles(fs.readFileSync(file, "utf8"));
  if (ref.title !== undefined) return tests.some((t) => t.test(ref.title)) ? null : "no test with this title in the file";
  // The full name is the suites' titles and the test's, joined by spaces: some test title must
  // end it, and what is left must be made of suite titles.
  const name = ref.name;
  const prefixOk = (prefix) => {
    if (prefix === "") return true;
    const words = prefix.split(" ");
    // Try every split of the prefix into suite titles (titles may contain spaces).
    const ok = (i) => {
      if (i === words.length) return true;
      for (let j = words.length; j > i; j--) {
        const part = words.slice(i, j).join(" ");
        if (suites.some((s) => s.test(part)) && ok(j)) return true;
      }
      return false;
    };
    return ok(0);
  };
  const words = name.split(" ");
  for (let i = 0; i < words.length; i++) {
    const title = words.slice(i).join(" ");
    if (tests.some((t) => t.test(title)) && prefixOk(words.slice(0, i).join(" "))) return null;
  }
  return "no test with this name in the file";
}

function cargoRefExists(ref, root, rustFiles) {
  const segments = ref.name.split("::");
  const fn = segments.pop();
  const modules = segments.filter((s) => s !== "tests");
  const decl = new RegExp(`\\bfn\\s+${fn.replace(/[^\w]/g, "")}\\s*[(<]`);
  for (const file of rustFiles) {
    const rel = path.relative(root, file).split(path.sep);
    const parts = rel.map((p) => p.replace(/\.rs$/, ""));
    // The module path must run along the file's path (a::b::tests::f in …/a/b.rs, …/a/b/mod.rs
    // or …/a/b/tests.rs; an integration test's module in core/tests/<binary>/<module>.rs).
    let k = 0;
    for (const p of parts) if (k < modules.length && p === modules[k]) k++;
    if (k !== modules.length) continue;
    const lines = fs.readFileSync(file, "utf8").split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (!decl.test(lines[i])) continue;
      const above = lines.slice(Math.max(0, i - 6), i).join("\n");
      if (/#\[(?:[\w:]+::)?test\b/.test(above)) return null;
    }
  }
  return "no #[test] fn with this name where its module path points";
}

function pyRefExists(ref, root) {
  const file = path.join(root, ref.runner === "layout" ? "tests/layout/test_layout.py" : "tests/demo/test_demo.py");
  if (!fs.existsSync(file)) return `no file ${path.relative(root, file)}`;
  const src = fs.readFileSync(file, "utf8");
  if (ref.runner === "layout") return new RegExp(`^def ${ref.name.replace(/[^\w]/g, "")}\\(`, "m").test(src) ? null : "no such test function";
  // The demo's names are strings, some f-strings with {placeholders}.
  for (const m of src.matchAll(/f?"((?:[^"\\\n]|\\.)*)"/g)) {
    const parts = m[1].split(/(\{[^}]*\})/);
    // A string that is mostly placeholders ("{name}") would match any name.
    if (parts.filter((p, i) => i % 2 === 0).join("").trim().length < 8) continue;
    const re = new RegExp(`^${parts.map((p, i) => (i % 2 ? "[\\s\\S]+" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("")}$`);
    if (re.test(ref.name)) return null;
  }
  return "no such test name";
}

/** Every reference that names no test in the sources: [{control, ref, problem}]. */
export function checkSources(controls, root = ROOT) {
  const rustFiles = ["core", "src", "verifier"].flatMap((d) => walk(path.join(root, d), (p) => p.endsWith(".rs")));
  const problems = [];
  for (const c of controls) {
    if (!c.tests || c.tests.length === 0) problems.push({ control: c.id, ref: null, problem: "names no test" });
    for (const ref of c.tests ?? []) {
      let problem;
      if (ref.runner === "vitest") problem = vitestRefExists(ref, root);
      else if (ref.runner === "cargo") problem = cargoRefExists(ref, root, rustFiles);
      else if (ref.runner === "layout" || ref.runner === "demo") problem = pyRefExists(ref, root);
      else problem = `unknown runner ${ref.runner}`;
      if (problem) problems.push({ control: c.id, ref, problem });
    }
  }
  return problems;
}

// ---------------------------------------------------------------- the page

function fmtTime(d) {
  return d ? d.toISOString().replace(/\.\d{3}Z$/, "Z") : "—";
}

function gitCommit(root) {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    let dirty = false;
    try {
      dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() !== "";
    } catch {}
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch {
    return "unknown";
  }
}

/** SECURITY_CONTACT from the environment, else from wrangler.toml's [vars]. */
export function securityContact(root = ROOT) {
  if (process.env.SECURITY_CONTACT) return process.env.SECURITY_CONTACT;
  try {
    const m = /^\s*SECURITY_CONTACT\s*=\s*"([^"]*)"/m.exec(fs.readFileSync(path.join(root, "wrangler.toml"), "utf8"));
    if (m) return m[1];
  } catch {}
  return null;
}

const STATUS_CLASS = { passed: "passed", failed: "failed", missing: "missing", "not run": "notrun" };
const STATUS_TEXT = { passed: "Passed", failed: "Failed", missing: "Missing", "not run": "Not run" };
const badge = (status) => `<span class="badge s-${STATUS_CLASS[status]}">${escapeHtml(STATUS_TEXT[status])}</span>`;
const h = escapeHtml;

function contactLink(contact) {
  if (!contact) return "the address in <a href=\"/.well-known/security.txt\">security.txt</a>";
  const shown = contact.replace(/^mailto:/, "");
  return /^(mailto:|https:\/\/)/.test(contact) ? `<a href="${h(contact)}">${h(shown)}</a>` : h(shown);
}

export function renderPage({ controls, content, reports, run = null, commit, generatedAt, contact }) {
  const judged = controls.map((c) => judgeControl(c, reports));
  const counts = Object.fromEntries(STATUSES.map((s) => [s, judged.filter((c) => c.status === s).length]));
  const anyReport = Object.values(reports).some((r) => r !== null && !r.stale);
  const pageSha = String(commit).split(" ")[0];
  let runLine = "";
  if (!anyReport) runLine = "";
  else if (!run?.commit) runLine = `<p class="warn">The reports do not record the commit they were run at, so they may describe other code than this commit.</p>`;
  else if (run.commit !== pageSha) runLine = `<p class="warn">The tests ran at commit <code>${h(run.commit)}</code>, not at <code>${h(pageSha)}</code> where this page was generated: the results may not describe this code.</p>`;
  else runLine = `<p>The tests ran at this commit, starting <time datetime="${h(fmtTime(run.started))}">${h(fmtTime(run.started))}</time>.</p>`;

  const reportRows = Object.entries(RUNNERS)
    .map(([runner, { file, label }]) => {
      const r = reports[runner];
      if (r === null) return `<tr><th scope="row">${h(label)}</th><td>${h(file)}</td><td colspan="3">No report</td></tr>`;
      if (r.stale) return `<tr><th scope="row">${h(label)}</th><td>${h(file)}</td><td colspan="3">Not used: written <time datetime="${h(fmtTime(r.mtime))}">${h(fmtTime(r.mtime))}</time>, before the latest run started</td></tr>`;
      if (r.error) return `<tr><th scope="row">${h(label)}</th><td>${h(file)}</td><td colspan="3">${h(r.error)}</td></tr>`;
      return `<tr><th scope="row">${h(label)}</th><td>${h(file)}</td><td><time datetime="${h(fmtTime(r.mtime))}">${h(fmtTime(r.mtime))}</time></td><td>${r.totals.passed}</td><td>${r.totals.failed}${r.totals.other ? ` (${r.totals.other} ignored or skipped)` : ""}</td></tr>`;
    })
    .join("\n");

  const controlRows = judged
    .map((c) => {
      const tests = c.tests
        .map((t) => `<li class="t-${STATUS_CLASS[t.status]}"><span class="runner">${h(t.ref.runner)}</span> <code>${h(refLabel(t.ref))}</code> — <span class="result">${h(STATUS_TEXT[t.status])}${t.detail && t.detail.toLowerCase() !== t.status ? `: ${h(t.detail)}` : ""}</span></li>`)
        .join("\n");
      const failing = c.tests.filter((t) => t.status === c.status && c.status !== "passed").map((t) => refLabel(t.ref));
      const why = failing.length && c.status !== "not run" ? `<p class="why">${h(STATUS_TEXT[c.status])}: ${failing.map(h).join("; ")}</p>` : "";
      return `<tr id="control-${h(c.id)}" data-status="${h(c.status)}">
<th scope="row"><span class="cid">${h(c.id)}</span> ${h(c.title)}</th>
<td>${h(c.spec)}</td>
<td class="c-claim"><p>${h(c.claim)}</p>${c.note ? `<p class="note">${h(c.note)}</p>` : ""}</td>
<td class="c-tests"><ul class="tests">
${tests || "<li>No test named</li>"}
</ul></td>
<td>${badge(c.status)}${why}</td>
</tr>`;
    })
    .join("\n");

  const list = (items, f) => items.map(f).join("\n");
  const title = content.title ?? "Trust";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(title)}</title>
<meta name="description" content="ParityRail's security controls, the tests that prove them and their latest results.">
<link rel="stylesheet" href="/trust/trust.css">
</head>
<body>
<header class="top"><p class="brand">ParityRail</p></header>
<main id="main">
<h1>${h(title)}</h1>
${list(content.intro ?? [], (p) => `<p class="lead">${h(p)}</p>`)}

<section aria-labelledby="latest">
<h2 id="latest">Latest test run</h2>
<p>This page was generated <time datetime="${h(fmtTime(generatedAt))}">${h(fmtTime(generatedAt))}</time> at commit <code>${h(commit)}</code>, from the test reports listed below (with the time each was written).${anyReport ? "" : " No test report was found, so every control shows as not run."}</p>
${runLine}
<p class="summary">${STATUSES.map((s) => `${badge(s)} <span class="count">${counts[s]}</span>`).join(" ")} <span class="of">of ${judged.length} controls</span></p>
<table class="reports">
<caption>Test reports the results below were read from</caption>
<thead><tr><th scope="col">Runner</th><th scope="col">Report</th><th scope="col">Written (UTC)</th><th scope="col">Passed</th><th scope="col">Failed</th></tr></thead>
<tbody>
${reportRows}
</tbody>
</table>
</section>

<section aria-labelledby="controls">
<h2 id="controls">Controls</h2>
<p>Each control is a guarantee of the <abbr title="ParityRail product specification">SPEC</abbr>. Its status is <strong>Passed</strong> only when every test it names passed; <strong>Failed</strong> names the failing tests; <strong>Missing</strong> means a named test has no result in the report, so the control is unproven; <strong>Not run</strong> means there is no report.</p>
<div class="scroll" tabindex="0" role="region" aria-label="Controls and their tests (the table scrolls sideways on a narrow screen)">
<table class="matrix">
<caption>Controls, the tests that prove them, and their latest result</caption>
<thead><tr><th scope="col">Control</th><th scope="col">SPEC</th><th scope="col">Claim</th><th scope="col">Tests</th><th scope="col">Status</th></tr></thead>
<tbody>
${controlRows}
</tbody>
</table>
</div>
</section>

<section aria-labelledby="subprocessors">
<h2 id="subprocessors">Subprocessors</h2>
<table>
<caption>Services ParityRail runs on or sends data to</caption>
<thead><tr><th scope="col">Subprocessor</th><th scope="col">Service</th><th scope="col">Purpose</th><th scope="col">Status</th></tr></thead>
<tbody>
${list(content.subprocessors ?? [], (s) => `<tr><th scope="row">${h(s.name)}</th><td>${h(s.service)}</td><td>${h(s.purpose)}</td><td>${h(s.status)}</td></tr>`)}
</tbody>
</table>
<h3>Your systems ParityRail connects to</h3>
<table>
<caption>Systems you own that ParityRail reads (and, for approved repairs, writes)</caption>
<thead><tr><th scope="col">System</th><th scope="col">Access</th><th scope="col">Data read</th></tr></thead>
<tbody>
${list(content.connections ?? [], (s) => `<tr><th scope="row">${h(s.name)}</th><td>${h(s.access)}</td><td>${h(s.data)}</td></tr>`)}
</tbody>
</table>
</section>

<section aria-labelledby="retention">
<h2 id="retention">Retention</h2>
<table>
<caption>How long ParityRail keeps what it stores</caption>
<thead><tr><th scope="col">Data</th><th scope="col">Kept</th></tr></thead>
<tbody>
${list(content.retention ?? [], (r) => `<tr><th scope="row">${h(r.what)}</th><td>${h(r.kept)}</td></tr>`)}
</tbody>
</table>
</section>

<section aria-labelledby="contact">
<h2 id="contact">Security contact</h2>
<p>Report a vulnerability to ${contactLink(contact)}. ${h(content.contact?.policy_summary ?? "")}</p>
<p>Machine-readable: <a href="${h(content.contact?.security_txt ?? "/.well-known/security.txt")}">security.txt</a> (RFC 9116). Disclosure policy: <a href="${h(content.contact?.policy ?? "/security-policy")}">${h(content.contact?.policy ?? "/security-policy")}</a>.</p>
</section>

<section aria-labelledby="compliance">
<h2 id="compliance">Compliance posture</h2>
${list(content.compliance ?? [], (p) => `<p>${h(p)}</p>`)}
<h3>Not built yet, so not claimed</h3>
<ul>
${list(content.not_claimed ?? [], (n) => `<li>${h(n.what)} (SPEC ${h(n.spec)})</li>`)}
</ul>
</section>
</main>
<footer class="foot"><p>Generated by <code>scripts/trust.mjs</code> from <code>trust/controls.json</code> and the test reports; edit those, not this page.</p></footer>
</body>
</html>
`;
}

export const CSS = `:root{--fg:#1a1a1a;--muted:#4a4a4a;--bg:#ffffff;--line:#c8c8c8;--head:#f2f2f2;--link:#0b4f9c}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
a:focus-visible,.scroll:focus-visible{outline:3px solid #0b4f9c;outline-offset:2px}
.top{border-bottom:1px solid var(--line);padding:.5rem 1.5rem}
.brand{margin:0;font-weight:700;color:var(--fg);background:var(--bg)}
main{max-width:78rem;margin:0 auto;padding:1rem 1.5rem 2rem}
h1{font-size:1.9rem;margin:.5rem 0 1rem}
h2{font-size:1.4rem;margin:2rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.25rem}
h3{font-size:1.1rem;margin:1.5rem 0 .5rem}
.lead{max-width:60rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
caption{text-align:left;font-weight:600;padding:.25rem 0;color:var(--muted);background:var(--bg)}
th,td{border:1px solid var(--line);padding:.4rem .55rem;text-align:left;vertical-align:top}
thead th{color:var(--fg);background:var(--head)}
tbody th{font-weight:600}
.scroll{overflow-x:auto}
.matrix td p{margin:0 0 .35rem}
.matrix{table-layout:fixed;min-width:56rem}
.matrix thead th:nth-child(1){width:13%}
.matrix thead th:nth-child(2){width:6%}
.matrix thead th:nth-child(3){width:25%}
.matrix thead th:nth-child(4){width:44%}
.matrix thead th:nth-child(5){width:12%}
.cid{display:block;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem;color:var(--muted);background:var(--bg)}
.note{font-size:.9rem;color:var(--muted);background:var(--bg)}
.tests{margin:0;padding-left:1.1rem;font-size:.9rem}
.tests li{margin:.15rem 0}
.tests code{word-break:break-word;white-space:normal}
.runner{font-weight:600}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
.badge{display:inline-block;font-weight:700;font-size:.85rem;padding:.05rem .5rem;border-radius:.25rem;border:1px solid currentColor;white-space:nowrap}
.s-passed{color:#0b5a2a;background:#e4f4e9}
.s-failed{color:#8b1212;background:#fde9e9}
.s-missing{color:#6a4700;background:#fff3d1}
.s-notrun{color:#333333;background:#ececec}
.t-failed .result{color:#8b1212;background:#ffffff;font-weight:700}
.t-missing .result{color:#6a4700;background:#ffffff;font-weight:700}
.warn{font-weight:600;color:#8b1212;background:var(--bg)}
.why{font-size:.85rem;margin:.35rem 0 0;color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
.summary .count{font-weight:700;margin-right:.75rem}
.summary .of{color:var(--muted);background:var(--bg)}
.foot{border-top:1px solid var(--line);padding:.5rem 1.5rem;font-size:.9rem;color:var(--muted);background:var(--bg)}
@media (max-width:48rem){main{padding:1rem .75rem}.matrix th,.matrix td{padding:.3rem}}
`;

// ---------------------------------------------------------------- command line

function parseArgs(argv) {
  const opts = { reports: ".tmp", out: "dashboard/trust", controls: "trust/controls.json", content: "trust/content.json", root: null, checkSources: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--check-sources") opts.checkSources = true;
    else if (["--reports", "--out", "--controls", "--content", "--root"].includes(a) && i + 1 < argv.length) opts[a.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

export function main(argv = process.argv.slice(2)) {
  const opts = parseArgs(argv);
  const root = opts.root ? path.resolve(opts.root) : ROOT;
  const abs = (p) => path.resolve(root, p);
  const { controls } = JSON.parse(fs.readFileSync(abs(opts.controls), "utf8"));
  if (opts.checkSources) {
    const problems = checkSources(controls, root);
    for (const p of problems) console.error(`trust: ${p.control}: ${p.ref ? refLabel(p.ref) : ""}: ${p.problem}`);
    const refs = controls.reduce((n, c) => n + (c.tests?.length ?? 0), 0);
    console.log(`trust: ${refs - problems.length} of ${refs} test references found in the sources`);
    return problems.length === 0 ? 0 : 1;
  }
  const content = JSON.parse(fs.readFileSync(abs(opts.content), "utf8"));
  const reports = readReports(abs(opts.reports));
  const html = renderPage({ controls, content, reports, run: readRun(abs(opts.reports)), commit: gitCommit(root), generatedAt: new Date(), contact: securityContact(root) });
  fs.mkdirSync(abs(opts.out), { recursive: true });
  fs.writeFileSync(path.join(abs(opts.out), "index.html"), html);
  fs.writeFileSync(path.join(abs(opts.out), "trust.css"), CSS);
  const judged = controls.map((c) => judgeControl(c, reports));
  const counts = STATUSES.map((s) => `${judged.filter((c) => c.status === s).length} ${s}`).join(", ");
  console.log(`trust: ${path.relative(root, abs(opts.out))}/index.html: ${judged.length} controls: ${counts}`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    process.exitCode = main();
  } catch (e) {
    console.error(`trust: ${e.message}`);
    process.exitCode = 2;
  }
}
