#!/usr/bin/env node
// Tests of the Trust page generator (scripts/trust.mjs) and of trust/controls.json:
// - the generator, run on the fixture reports in tests/trust/fixtures, shows a control whose
//   tests passed as passed, one with a failed test as failed naming it, one whose test is not
//   in the report (or ignored, skipped, or in a file that did not load) as missing, and with no
//   report every control as not run; markup anywhere is escaped; the page has no script, no
//   inline style and no outside resource, and is built for accessibility;
// - every test trust/controls.json names exists in the test sources (a control naming a test
//   that was renamed or deleted fails here), and every control names at least one test.
//
// usage: node tests/trust/test_trust.mjs [OUT.json]   (writes {"passed": n, "failed": m, "tests": [...]})

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { CSS, checkSources, escapeHtml, parseCargoLog, readReports, renderPage, vitestTitles } from "../../scripts/trust.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const FIX = path.join(HERE, "fixtures");
const SCRIPT = path.join(ROOT, "scripts/trust.mjs");

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "trust-test-"));
}

/** Runs the generator as the build would, on `reports`, into a fresh folder; returns the page. */
function generate(reports, controls = path.join(FIX, "controls.json")) {
  const out = tmpdir();
  try {
    const stdout = execFileSync(process.execPath, [SCRIPT, "--reports", reports, "--out", out, "--controls", controls, "--content", path.join(ROOT, "trust/content.json")], {
      cwd: ROOT,
      encoding: "utf8",
    });
    return { html: fs.readFileSync(path.join(out, "index.html"), "utf8"), css: fs.readFileSync(path.join(out, "trust.css"), "utf8"), stdout };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/** The rows of the controls matrix: id → {status, html}. */
function rows(html) {
  const out = {};
  for (const m of html.matchAll(/<tr id="control-([^"]+)" data-status="([^"]+)">([\s\S]*?)<\/tr>/g)) out[m[1]] = { status: m[2], html: m[3] };
  return out;
}

let fixturePage;
const page = () => (fixturePage ??= generate(path.join(FIX, "reports")));

// ---------------------------------------------------------------- escaping

export function test_escape_html_escapes_the_five_characters_and_anything_else_stays() {
  assert.equal(escapeHtml(`<a href="x" onclick='y'>&amp;</a>`), "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
  assert.equal(escapeHtml("plain — text, §1 ✓"), "plain — text, §1 ✓");
  assert.equal(escapeHtml(42), "42");
  assert.equal(escapeHtml(null), "");
  assert.equal(escapeHtml(undefined), "");
  // Escaping is not undone by a second pass, and nothing escaped contains a raw < > " '.
  assert.equal(escapeHtml(escapeHtml("<")), "&amp;lt;");
  for (const s of ["<script>", `"'`, "</td><td>", "&#x3c;"]) assert.doesNotMatch(escapeHtml(s), /[<>"']/);
}

// ---------------------------------------------------------------- reading reports

export function test_the_cargo_log_is_read_line_by_line_and_only_result_lines_count() {
  const r = parseCargoLog(fs.readFileSync(path.join(FIX, "reports/cargo-test.log"), "utf8"));
  assert.deepEqual(r.get("domain::apikey::tests::a_generated_key_has_the_documented_shape"), ["passed"]);
  assert.deepEqual(r.get("domain::tenancy::tests::statements_without_the_tenant_predicate_are_refused"), ["failed"]);
  assert.deepEqual(r.get("domain::ratelimit::tests::a_full_bucket_allows_exactly_its_capacity_at_once"), ["skipped"]);
  assert.deepEqual(r.get("domain::webhook::tests::every_failure_is_refused"), ["skipped"]);
  assert.deepEqual(r.get("src/lib.rs - doc::example (line 12)"), ["passed"]);
  // A test's captured output that merely looks like a result line is not one.
  assert.equal(r.has("domain::tenancy::tests::this_line_is_output_not_a_result"), false);
  assert.equal(r.size, 6);
}

export function test_report_totals_and_times_come_from_the_report_files() {
  const reports = readReports(path.join(FIX, "reports"));
  assert.deepEqual(reports.cargo.totals, { passed: 3, failed: 1, other: 2 });
  assert.deepEqual(reports.vitest.totals, { passed: 6, failed: 2, other: 1 });
  assert.deepEqual(reports.layout.totals, { passed: 8, failed: 1, other: 0 });
  const mtime = fs.statSync(path.join(FIX, "reports/vitest.json")).mtime.toISOString().replace(/\.\d{3}Z$/, "Z");
  assert.match(page().html, new RegExp(`<td>vitest\\.json</td><td><time datetime="${mtime}">${mtime}</time></td><td>6</td><td>2 \\(1 ignored or skipped\\)</td>`));
}

// ---------------------------------------------------------------- statuses

export function test_a_control_whose_tests_all_passed_shows_passed() {
  const r = rows(page().html);
  assert.equal(r.PASS.status, "passed");
  assert.match(r.PASS.html, /<span class="badge s-passed">Passed<\/span>/);
  assert.equal(r["FAMILY-PASS"].status, "passed");
  assert.match(r["FAMILY-PASS"].html, /Passed: 2 passed/);
  assert.equal(r.DEMO.status, "passed"); // the demo report names its results
}

export function test_a_control_with_a_failed_test_shows_failed_and_names_the_test() {
  const r = rows(page().html);
  assert.equal(r.FAIL.status, "failed");
  assert.match(r.FAIL.html, /<span class="badge s-failed">Failed<\/span><p class="why">Failed: tests\/e2e\/keys\.test\.mjs: API keys are stored only as a SHA-256 hash<\/p>/);
  // The test that passed is not named as failing.
  assert.doesNotMatch(r.FAIL.html, /class="why">[^<]*sealing_round_trips/);
  assert.equal(r.CARGOFAIL.status, "failed");
  assert.match(r.CARGOFAIL.html, /class="why">Failed: domain::tenancy::tests::statements_without_the_tenant_predicate_are_refused</);
  // One route of a family failing fails the control, and says how many.
  assert.equal(r["FAMILY-FAIL"].status, "failed");
  assert.match(r["FAMILY-FAIL"].html, /Failed: 1 of 3 failed/);
}

export function test_a_control_with_a_test_absent_from_the_report_shows_missing_never_passed() {
  const r = rows(page().html);
  assert.equal(r.MISS.status, "missing");
  assert.match(r.MISS.html, /<span class="badge s-missing">Missing<\/span><p class="why">Missing: domain::vault::tests::a_test_nobody_ran<\/p>/);
  assert.match(r.MISS.html, /a_test_nobody_ran<\/code> — <span class="result">Missing: not in the report/);
  // Ignored, skipped, a file that did not load and a runner that does not name its failures
  // prove nothing either.
  assert.equal(r.IGNORED.status, "missing");
  assert.match(r.IGNORED.html, /Missing: ignored or skipped/);
  assert.equal(r.SKIPPED.status, "missing");
  assert.equal(r.BROKENFILE.status, "missing");
  assert.match(r.BROKENFILE.html, /its file failed to run/);
  assert.equal(r["LAYOUT-UNKNOWN"].status, "missing");
  assert.match(r["LAYOUT-UNKNOWN"].html, /the report counts failures without naming the tests/);
}

export function test_with_no_report_every_control_shows_not_run() {
  const empty = tmpdir();
  try {
    const { html, stdout } = generate(empty);
    const r = rows(html);
    assert.equal(Object.keys(r).length, 12);
    for (const [id, row] of Object.entries(r)) {
      assert.equal(row.status, "not run", id);
      assert.match(row.html, /<span class="badge s-notrun">Not run<\/span>/);
    }
    assert.equal((html.match(/<td colspan="3">No report<\/td>/g) ?? []).length, 4);
    assert.match(html, /No test report was found, so every control shows as not run\./);
    assert.match(stdout, /12 controls: 0 passed, 0 failed, 0 missing, 12 not run/);
    // The real controls too: a fresh checkout's build shows nothing as passed.
    const real = rows(generate(empty, path.join(ROOT, "trust/controls.json")).html);
    assert.ok(Object.keys(real).length > 0);
    for (const row of Object.values(real)) assert.equal(row.status, "not run");
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
}

export function test_the_summary_counts_the_controls_by_status() {
  assert.match(page().html, /Passed<\/span> <span class="count">4<\/span> <span class="badge s-failed">Failed<\/span> <span class="count">3<\/span> <span class="badge s-missing">Missing<\/span> <span class="count">5<\/span> <span class="badge s-notrun">Not run<\/span> <span class="count">0<\/span>/);
  // PASS, FAMILY-PASS, DEMO and MARKUP passed.
  assert.deepEqual(Object.entries(rows(page().html)).filter(([, r]) => r.status === "passed").map(([id]) => id), ["PASS", "FAMILY-PASS", "DEMO", "MARKUP"]);
}

export function test_the_page_says_which_commit_the_tests_ran_at_and_ignores_reports_of_an_earlier_run() {
  const dir = tmpdir();
  try {
    for (const f of fs.readdirSync(path.join(FIX, "reports"))) fs.copyFileSync(path.join(FIX, "reports", f), path.join(dir, f));
    // No test-commit.txt: the page says it cannot tell.
    assert.match(generate(dir).html, /<p class="warn">The reports do not record the commit they were run at/);
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const started = new Date(Date.now() - 60_000);
    const run = path.join(dir, "test-commit.txt");
    fs.writeFileSync(run, `${head}\n`);
    fs.utimesSync(run, started, started);
    let { html } = generate(dir);
    assert.match(html, /<p>The tests ran at this commit, starting <time/);
    assert.doesNotMatch(html, /class="warn"/);
    fs.writeFileSync(run, "0000000\n");
    fs.utimesSync(run, started, started);
    assert.match(generate(dir).html, /<p class="warn">The tests ran at commit <code>0000000<\/code>, not at <code>[0-9a-f]+<\/code> where this page was generated/);
    // A report written before the run started is left over from an earlier run: not used.
    const old = new Date(started.getTime() - 3_600_000);
    fs.utimesSync(path.join(dir, "vitest.json"), old, old);
    html = generate(dir).html;
    assert.match(html, /<td>vitest\.json<\/td><td colspan="3">Not used: written <time[^>]*>[^<]*<\/time>, before the latest run started<\/td>/);
    const r = rows(html);
    assert.equal(r.PASS.status, "not run"); // its cargo test passed, its vitest test is not known
    assert.match(r.PASS.html, /Not run: the vitest\.json report is from an earlier run/);
    assert.equal(r.FAIL.status, "not run");
    assert.equal(r.CARGOFAIL.status, "failed"); // cargo's report is of this run
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- escaping in the page

export function test_markup_in_test_names_titles_claims_and_notes_is_escaped() {
  const { html } = page();
  const r = rows(html);
  assert.match(r.MARKUP.html, /API keys &lt;img src=x onerror=alert\(1\)&gt; &amp; &quot;quotes&quot;/);
  assert.match(r.MARKUP.html, /&lt;script&gt;alert\(&quot;title&quot;\)&lt;\/script&gt; &amp; co/);
  assert.match(r.MARKUP.html, /Markup &lt;b&gt;in a claim&lt;\/b&gt; is text\./);
  assert.match(r.MARKUP.html, /A note with &lt;i&gt;markup&lt;\/i&gt;\./);
  assert.doesNotMatch(html, /<img|<script|<b>in|<i>markup/);
  // A test name reaching the page through a report is escaped too (a page made of a renderer
  // call with hostile content everywhere holds no tag but its own).
  const hostile = '"><script>x</script>';
  const reports = { cargo: null, vitest: null, layout: null, demo: null };
  const out = renderPage({
    controls: [{ id: hostile, title: hostile, spec: hostile, claim: hostile, note: hostile, tests: [{ runner: "cargo", name: hostile }] }],
    content: { title: hostile, intro: [hostile], subprocessors: [{ name: hostile, service: hostile, purpose: hostile, status: hostile }], connections: [{ name: hostile, access: hostile, data: hostile }], retention: [{ what: hostile, kept: hostile }], contact: { policy_summary: hostile, policy: hostile, security_txt: hostile }, compliance: [hostile], not_claimed: [{ what: hostile, spec: hostile }] },
    reports,
    commit: hostile,
    generatedAt: new Date(0),
    contact: `mailto:${hostile}`,
  });
  assert.doesNotMatch(out, /<script/);
  assert.doesNotMatch(out, /"><script|="[^"]*"><script/);
}

// ---------------------------------------------------------------- the page itself

export function test_the_page_needs_no_script_no_inline_style_and_nothing_from_outside() {
  const { html } = page();
  assert.doesNotMatch(html, /<script\b/i);
  assert.doesNotMatch(html, /<style\b/i);
  // No attribute of any tag is a style or an event handler (text is escaped, so every "<" in
  // the page starts a tag of the generator's).
  for (const [tag] of html.matchAll(/<[a-z][^>]*>/gi)) assert.doesNotMatch(tag, /\s(style|on[a-z]+)\s*=/i, tag);
  assert.doesNotMatch(html, /javascript:/i);
  assert.doesNotMatch(html, /<(img|iframe|object|embed|form|input)\b/i);
  // The only resource is the stylesheet, same origin.
  const resources = [...html.matchAll(/<link\b[^>]*href="([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(resources, ["/trust/trust.css"]);
  // Links go to this site or are mail addresses.
  for (const m of html.matchAll(/<a\b[^>]*href="([^"]*)"/g)) assert.match(m[1], /^(\/|mailto:)/, m[1]);
}

export function test_the_page_is_built_for_accessibility() {
  const { html } = page();
  assert.match(html, /^<!doctype html>\n<html lang="en">/);
  assert.match(html, /<meta name="viewport"/);
  assert.match(html, /<title>ParityRail Trust<\/title>/);
  assert.equal((html.match(/<h1\b/g) ?? []).length, 1);
  assert.equal((html.match(/<main\b/g) ?? []).length, 1);
  // Every table has a caption; header cells have a scope: col in thead, row in tbody.
  const tables = html.match(/<table\b[\s\S]*?<\/table>/g);
  assert.ok(tables.length >= 4);
  for (const t of tables) {
    assert.match(t, /^<table[^>]*>\n<caption>/);
    const [, head, body] = /<thead>([\s\S]*?)<\/thead>\s*<tbody>([\s\S]*?)<\/tbody>/.exec(t);
    for (const th of head.match(/<th\b[^>]*>/g)) assert.equal(th, '<th scope="col">');
    for (const th of body.match(/<th\b[^>]*>/g) ?? []) assert.equal(th, '<th scope="row">');
  }
  // Headings do not skip a level.
  let level = 0;
  for (const m of html.matchAll(/<h([1-6])\b/g)) {
    assert.ok(Number(m[1]) <= level + 1, `h${m[1]} after h${level}`);
    level = Number(m[1]);
  }
  // A status is said in words, not only in colour.
  for (const row of Object.values(rows(html))) assert.match(row.html, /class="badge s-\w+">(Passed|Failed|Missing|Not run)</);
}

function luminance(hex) {
  const c = hex.replace("#", "");
  const full = c.length === 3 ? [...c].map((x) => x + x).join("") : c;
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

export function test_every_colour_pair_in_the_stylesheet_has_at_least_aa_contrast() {
  const { css } = page();
  assert.equal(css, CSS);
  const vars = Object.fromEntries([...css.matchAll(/--(\w+):(#[0-9a-fA-F]{3,6})/g)].map((m) => [m[1], m[2]]));
  const value = (v) => (v.startsWith("var(--") ? vars[v.slice(6, -1)] : v);
  let pairs = 0;
  for (const m of css.matchAll(/([^{}]+)\{([^{}]*)\}/g)) {
    const color = /(?:^|;)color:([^;]+)/.exec(m[2]);
    const bg = /(?:^|;)background:([^;]+)/.exec(m[2]);
    if (!color || !bg) continue;
    const ratio = contrast(value(color[1].trim()), value(bg[1].trim()));
    assert.ok(ratio >= 4.5, `${m[1].trim()}: ${ratio.toFixed(2)}`);
    pairs++;
  }
  assert.ok(pairs >= 8, `only ${pairs} colour pairs checked`);
  // The link colour on the page background, and the border colour of the badges (their text).
  assert.ok(contrast(vars.link, vars.bg) >= 4.5);
  assert.ok(contrast(vars.muted, vars.bg) >= 4.5);
}

// ---------------------------------------------------------------- controls.json and the sources

export function test_every_control_names_tests_and_every_named_test_exists_in_the_sources() {
  const { controls } = JSON.parse(fs.readFileSync(path.join(ROOT, "trust/controls.json"), "utf8"));
  assert.ok(controls.length >= 20);
  const ids = new Set();
  for (const c of controls) {
    assert.ok(!ids.has(c.id), `duplicate id ${c.id}`);
    ids.add(c.id);
    for (const k of ["id", "title", "spec", "claim"]) assert.ok(typeof c[k] === "string" && c[k].length > 0, `${c.id}: ${k}`);
    assert.match(c.spec, /^§\d+$/, c.id);
    assert.ok(Array.isArray(c.tests) && c.tests.length >= 1, `${c.id} names no test`);
    for (const t of c.tests) {
      assert.ok(["cargo", "vitest", "layout", "demo"].includes(t.runner), `${c.id}: runner ${t.runner}`);
      if (t.runner === "vitest") assert.ok(t.file && (typeof t.name === "string") !== (typeof t.title === "string"), `${c.id}: a vitest test needs a file and a name or a title`);
      else assert.ok(typeof t.name === "string", `${c.id}: name`);
    }
  }
  const problems = checkSources(controls, ROOT);
  assert.deepEqual(problems, []);
}

export function test_a_control_naming_a_test_that_does_not_exist_fails_the_source_check() {
  const bogus = [
    { runner: "cargo", name: "domain::apikey::tests::a_test_that_was_never_written" },
    // A real test function, under another module than the one it lives in.
    { runner: "cargo", name: "domain::vault::tests::a_generated_key_has_the_documented_shape" },
    // A real fn that is not a test.
    { runner: "cargo", name: "domain::security_txt::policy" },
    { runner: "vitest", file: "tests/e2e/keys.test.mjs", name: "API keys a test that was never written" },
    // A real test title under a suite of another file.
    { runner: "vitest", file: "tests/e2e/input.test.mjs", name: "bad bodies healthz answers ok" },
    { runner: "vitest", file: "tests/e2e/security.test.mjs", title: "refuses a request with a title nobody wrote" },
    { runner: "vitest", file: "tests/e2e/gone.test.mjs", name: "anything" },
    { runner: "layout", name: "test_that_does_not_exist" },
    { runner: "demo", name: "a demo test nobody wrote" },
  ];
  const problems = checkSources([{ id: "BOGUS", tests: bogus }, { id: "EMPTY", tests: [] }], ROOT);
  assert.deepEqual(
    problems.map((p) => (p.ref ? JSON.stringify(p.ref) : p.control)),
    [...bogus.map((b) => JSON.stringify(b)), "EMPTY"],
  );
  // The same real tests are found.
  const real = [
    { runner: "cargo", name: "domain::apikey::tests::a_generated_key_has_the_documented_shape" },
    { runner: "cargo", name: "repair::values_never_reach_the_sql_text" },
    { runner: "vitest", file: "tests/e2e/meta.test.mjs", name: "unauthenticated surfaces healthz answers ok" },
    { runner: "vitest", file: "tests/e2e/security.test.mjs", title: "refuses a request without a key with 401" },
    { runner: "vitest", file: "tests/e2e/security.test.mjs", name: "methods and paths outside the declaration /v1/keys answers 405 to a method it does not declare, after authentication" },
    { runner: "layout", name: "test_the_core_never_depends_on_worker" },
    { runner: "demo", name: "npm start -- --once --seed 11: the incidents found equal the planted drift, kind by kind and customer by customer" },
  ];
  assert.deepEqual(checkSources([{ id: "REAL", tests: real }], ROOT), []);
}

export function test_renaming_a_test_in_its_source_makes_the_check_fail() {
  const root = tmpdir();
  try {
    fs.mkdirSync(path.join(root, "tests/e2e"), { recursive: true });
    fs.mkdirSync(path.join(root, "core/src/domain"), { recursive: true });
    const js = path.join(root, "tests/e2e/x.test.mjs");
    const rs = path.join(root, "core/src/domain/thing.rs");
    fs.writeFileSync(js, `describe("the thing", () => {\n  it("holds its promise", () => {});\n  it.each(["a", "b"])("checks %s's \\"door\\"", () => {});\n});\n`);
    fs.writeFileSync(rs, "pub fn f() {}\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn holds_its_promise() {}\n}\n");
    const controls = [
      {
        id: "C",
        tests: [
          { runner: "vitest", file: "tests/e2e/x.test.mjs", name: "the thing holds its promise" },
          { runner: "vitest", file: "tests/e2e/x.test.mjs", name: `the thing checks a's "door"` },
          { runner: "cargo", name: "domain::thing::tests::holds_its_promise" },
        ],
      },
    ];
    assert.deepEqual(checkSources(controls, root), []);
    fs.writeFileSync(js, fs.readFileSync(js, "utf8").replace("holds its promise", "keeps its promise"));
    fs.writeFileSync(rs, fs.readFileSync(rs, "utf8").replace("holds_its_promise", "keeps_its_promise"));
    assert.deepEqual(
      checkSources(controls, root).map((p) => p.ref.name),
      ["the thing holds its promise", "domain::thing::tests::holds_its_promise"],
    );
    // The command line says so with its exit code.
    fs.writeFileSync(path.join(root, "controls.json"), JSON.stringify({ controls }));
    const r = spawnSync(process.execPath, [SCRIPT, "--check-sources", "--root", root, "--controls", "controls.json"], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /trust: C: tests\/e2e\/x\.test\.mjs: the thing holds its promise: no test with this name in the file/);
    assert.match(r.stdout, /trust: 1 of 3 test references found in the sources/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

export function test_the_title_reader_sees_each_and_template_titles() {
  const { suites, tests } = vitestTitles(
    "describe.each(routes)('$m $p', (route) => {\n it(`answers ${x} twice`, () => {});\n it.each(paths)(\"%s answers 405\", () => {});\n test.skip('is \\'quoted\\'', () => {});\n});\n",
  );
  assert.ok(suites[0].test("'GET' '/v1/org'"));
  assert.ok(tests[0].test("answers 404 twice"));
  assert.ok(tests[1].test("/v1/keys answers 405"));
  assert.ok(tests[2].test("is 'quoted'"));
  assert.ok(!tests[0].test("answers twice"));
}

// ---------------------------------------------------------------- runner

const tests = Object.entries({
  test_escape_html_escapes_the_five_characters_and_anything_else_stays,
  test_the_cargo_log_is_read_line_by_line_and_only_result_lines_count,
  test_report_totals_and_times_come_from_the_report_files,
  test_a_control_whose_tests_all_passed_shows_passed,
  test_a_control_with_a_failed_test_shows_failed_and_names_the_test,
  test_a_control_with_a_test_absent_from_the_report_shows_missing_never_passed,
  test_with_no_report_every_control_shows_not_run,
  test_the_summary_counts_the_controls_by_status,
  test_the_page_says_which_commit_the_tests_ran_at_and_ignores_reports_of_an_earlier_run,
  test_markup_in_test_names_titles_claims_and_notes_is_escaped,
  test_the_page_needs_no_script_no_inline_style_and_nothing_from_outside,
  test_the_page_is_built_for_accessibility,
  test_every_colour_pair_in_the_stylesheet_has_at_least_aa_contrast,
  test_every_control_names_tests_and_every_named_test_exists_in_the_sources,
  test_a_control_naming_a_test_that_does_not_exist_fails_the_source_check,
  test_renaming_a_test_in_its_source_makes_the_check_fail,
  test_the_title_reader_sees_each_and_template_titles,
});

const results = [];
for (const [name, fn] of tests) {
  try {
    fn();
    results.push({ name, status: "passed" });
    console.log(`ok     ${name}`);
  } catch (e) {
    results.push({ name, status: "failed" });
    console.log(`FAILED ${name}\n${String(e.stack ?? e).replace(/^/gm, "       ")}`);
  }
}
const passed = results.filter((r) => r.status === "passed").length;
const failed = results.length - passed;
console.log(`${passed} passed, ${failed} failed`);
if (process.argv[2]) fs.writeFileSync(process.argv[2], JSON.stringify({ passed, failed, tests: results.map((r) => r.name), results }));
process.exitCode = failed === 0 ? 0 : 1;
