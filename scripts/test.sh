#!/usr/bin/env bash
# `npm test`: installs whatever the tests need (skipping what is there), then runs every test:
# formatting and lints, native `cargo test`, the wasm32 build, and the end-to-end suite against
# the built worker in Miniflare (real D1, Durable Objects and R2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# chromium: the dashboard's browser test (tests/browser) drives Debian's build through puppeteer-core.
PR_EXTRA_APT="postgresql chromium" bash "$PR_ROOT/scripts/tools.sh"
cd "$PR_ROOT"
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

say "starting PostgreSQL (.tmp/pg) and localstripe (.tmp/stripe) for the tests"
trap 'bash "$PR_ROOT/scripts/pg.sh" stop; bash "$PR_ROOT/scripts/stripe.sh" stop' EXIT
bash scripts/pg.sh start >/dev/null
bash scripts/stripe.sh start 120
set -a; source .tmp/pg/env; source .tmp/stripe/env; set +a
# The Trust page names the commit its reports come from (reports older than this file are stale).
git rev-parse --short HEAD >"$TMPDIR/test-commit.txt" 2>/dev/null || rm -f "$TMPDIR/test-commit.txt"

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy (native and wasm32)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# Each worker alone (with and without the e2e hooks), then both at once: the layers both link
# are held to dead-code lints there (src/lib.rs). (The core with the adapter: alone, its wasm32
# build lacks the `js` randomness the adapter's dependencies turn on.)
for features in edge edge,fault-hooks coordinator coordinator,fault-hooks edge,coordinator; do
  cargo clippy -p parityrail -p parityrail-core --lib --locked --target wasm32-unknown-unknown \
    --no-default-features --features "parityrail/${features//,/,parityrail/}" -- -D warnings
done

say "layout: no import cycle in any crate, file sizes, the adapter's share, the core without worker"
python3 tests/layout/test_layout.py "$TMPDIR/layout-test.json"

say "cargo test (native domain tests)"
cargo test --workspace --locked 2>&1 | tee "$TMPDIR/cargo-test.log"

say "build the offline bundle verifier (parityrail-verify)"
cargo build --locked -p parityrail-verify
export PR_VERIFY_BIN="$PR_ROOT/target/debug/parityrail-verify"

say "build the e2e workers (wasm32, feature fault-hooks): the edge and the coordinator"
bash scripts/build.sh --features fault-hooks >"$TMPDIR/build.log" 2>&1 || { cat "$TMPDIR/build.log"; exit 1; }

say "end-to-end tests (vitest + Miniflare)"
status=0
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json="$TMPDIR/vitest.json" || status=$?

say "the official MCP conformance suite against the e2e worker (tests/mcp)"
rm -f "$TMPDIR/mcp-conformance.json"
node tests/mcp/conformance.mjs "$TMPDIR/mcp-conformance.json" || { [ "$status" != 0 ] || status=1; }

say "the npm start demo: two seeds with --once, then reuse and Ctrl-C (tests/demo)"
rm -f "$TMPDIR/demo-test.json"
python3 tests/demo/test_demo.py "$TMPDIR/demo-test.json" || { [ "$status" != 0 ] || status=1; }

say "the dashboard in Chromium against the demo (tests/browser; screenshots in .tmp/screenshots)"
rm -f "$TMPDIR/browser-test.json"
node tests/browser/test_dashboard.mjs "$TMPDIR/browser-test.json" || { [ "$status" != 0 ] || status=1; }

# The workers as they ship (as npm start and wrangler deploy build them, without the e2e
# feature); build/ and build-coordinator/ are left holding that build.
say "the shipped workers: no fault hook in either, and their sizes"
bash scripts/build.sh >"$TMPDIR/build.log" 2>&1 || { cat "$TMPDIR/build.log"; exit 1; }
node scripts/check-shipped.mjs build build-coordinator || { [ "$status" != 0 ] || status=1; }

say "the Trust page: its tests, every test it names exists, then the page from this run's reports"
node tests/trust/test_trust.mjs "$TMPDIR/trust-test.json" || { [ "$status" != 0 ] || status=1; }
node scripts/trust.mjs --reports "$TMPDIR" || { [ "$status" != 0 ] || status=1; }

# One closing line for all the runners.
node -e '
  const fs = require("fs");
  const cargo = fs.readFileSync(process.argv[1], "utf8");
  let passed = 0, failed = 0;
  for (const m of cargo.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) { passed += +m[1]; failed += +m[2]; }
  const v = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  passed += v.numPassedTests; failed += v.numFailedTests;
  // A file that failed outside its tests (a hook, an import) fails none of them: count it.
  for (const f of v.testResults ?? []) {
    if (f.status === "failed" && !(f.assertionResults ?? []).some((a) => a.status === "failed")) failed += 1;
  }
  // The demo, layout, trust, browser and MCP conformance tests; a run that wrote no result counts as one failure.
  for (const file of process.argv.slice(3)) {
    let d = { passed: 0, failed: 1 };
    try { d = JSON.parse(fs.readFileSync(file, "utf8")); } catch {}
    passed += d.passed; failed += d.failed;
  }
  console.log(`${passed} passed, ${failed} failed`);
' "$TMPDIR/cargo-test.log" "$TMPDIR/vitest.json" "$TMPDIR/demo-test.json" "$TMPDIR/layout-test.json" "$TMPDIR/trust-test.json" "$TMPDIR/browser-test.json" "$TMPDIR/mcp-conformance.json"
exit "$status"
