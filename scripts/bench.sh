#!/usr/bin/env bash
# `npm run bench`: a benchmark, not a test. Starts the workers (the edge and the coordinator)
# with `wrangler dev` on their own local state, then prints:
#   1. authenticated requests/s and p50/p99 latency (GET /v1/org with a real key);
#   2. audit-chain verification entries/s, natively and through GET …/audit/verify, for a
#      100,000-entry chain;
#   3. the cold start and wasm size;
#   4. a full reconcile run of 10,000 customers against the naive per-customer walk, with and
#      without 25 ms of Stripe latency (scripts/bench-reconcile.mjs, on its own PostgreSQL);
#   5. webhook acknowledgement latency, serial and 16 in flight, and Stripe reads per event
#      under a storm (scripts/bench-webhooks.mjs, its own wrangler dev);
#   5b. refused 1 MiB webhook deliveries to a project with two secrets, one with none and an
#      unknown id: the medians side by side (scripts/bench-refusals.mjs);
#   6. repair approve-to-verified latency and database round trips per repair
#      (scripts/bench-repairs.mjs, its own wrangler dev);
#   7. an export of the 100,000-entry chain (wall time, workerd memory, bundle size) and the
#      offline verifier's entries/s (scripts/bench-exports.mjs).
# Per-key rate limits are raised for the run (otherwise they would cap it at 600/min).
# BENCH_ONLY=exports stops after 1, 2 and 7 (the chain they share).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$PR_ROOT/scripts/tools.sh"
cd "$PR_ROOT"

PORT="${BENCH_PORT:-8799}"
STATE="$PR_ROOT/.tmp/bench-state"
ENTRIES="${BENCH_ENTRIES:-100000}"
REQUESTS="${BENCH_REQUESTS:-3000}"
CONCURRENCY="${BENCH_CONCURRENCY:-8}"
OP_TOKEN="op_$(openssl rand -hex 24)"
rm -rf "$STATE"

say "building"
bash scripts/build.sh >"$TMPDIR/build.log" 2>&1 || { cat "$TMPDIR/build.log"; exit 1; }
cargo build --release -p parityrail-core --example audit_chain -q
cargo build --release -p parityrail-verify -q
CI=true node_modules/.bin/wrangler d1 migrations apply DB --local --persist-to "$STATE" >/dev/null

say "starting wrangler dev on 127.0.0.1:$PORT (the edge, and the coordinator behind it)"
# Both workers as built above; the variables reach both through the configurations' .dev.vars
# (`--var` would reach only the edge).
mapfile -t CONFIGS < <(node scripts/workers.mjs dev-configs "$STATE/config" \
  "OPERATOR_TOKEN=$OP_TOKEN" "CREDENTIALS_ENCRYPTION_KEY=k1:$(openssl rand -base64 32)" \
  "RATE_LIMIT_KEY_PER_MINUTE=100000000")
setsid node_modules/.bin/wrangler dev "${CONFIGS[@]}" --local --ip 127.0.0.1 --port "$PORT" \
  --persist-to "$STATE" --log-level warn >"$TMPDIR/bench-wrangler.log" 2>&1 &
WPID=$!
trap 'kill -TERM -- -$WPID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.5; done

BASE="http://127.0.0.1:$PORT" OP_TOKEN="$OP_TOKEN" REQUESTS="$REQUESTS" CONCURRENCY="$CONCURRENCY" \
  node scripts/bench-load.mjs > "$TMPDIR/bench-setup.json"
KEY=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).key)' "$TMPDIR/bench-setup.json")
ORG=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).org)' "$TMPDIR/bench-setup.json")
PID=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).project)' "$TMPDIR/bench-setup.json")
HEAD=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).head_hash)' "$TMPDIR/bench-setup.json")

say "audit chain: $ENTRIES entries"
target/release/examples/audit_chain --entries "$ENTRIES"
target/release/examples/audit_chain --entries "$ENTRIES" --sql "$TMPDIR/chain.sql" --org "$ORG" \
  --chain "project:$PID" --project "$PID" --after-seq 1 --after-hash "$HEAD" >/dev/null
CI=true node_modules/.bin/wrangler d1 execute DB --local --persist-to "$STATE" --file "$TMPDIR/chain.sql" >/dev/null
START=$(date +%s%N)
OUT=$(curl -sf -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/projects/$PID/audit/verify")
END=$(date +%s%N)
node -e '
  const r = JSON.parse(process.argv[1]); const ms = (process.argv[3] - process.argv[2]) / 1e6;
  if (!r.ok) { console.error("verify failed", r); process.exit(1); }
  console.log(`worker: GET /audit/verify checked ${r.entries} entries in ${ms.toFixed(0)} ms = ${(r.entries / ms * 1000).toFixed(0)} entries/s`);
' "$OUT" "$START" "$END"

say "exports: the $ENTRIES-entry chain as a signed bundle, and the offline verifier"
BASE="http://127.0.0.1:$PORT" KEY="$KEY" PID="$PID" WPGID="$WPID" PR_ROOT="$PR_ROOT" \
  node scripts/bench-exports.mjs | grep -v '^{'

[ "${BENCH_ONLY:-}" = exports ] && exit 0

say "cold start of the built workers in Miniflare, and their wasm sizes"
node scripts/bench-coldstart.mjs 2>/dev/null | grep -v '^{'

say "reconcile: a full run against the naive walk (10,000 customers)"
bash scripts/pg.sh start >/dev/null
set -a; source "$TMPDIR/pg/env"; set +a
node scripts/bench-reconcile.mjs | grep -v '^{'
bash scripts/pg.sh stop >/dev/null

say "webhooks: acknowledgement latency and Stripe reads per event (through wrangler dev)"
bash scripts/pg.sh start >/dev/null
set -a; source "$TMPDIR/pg/env"; set +a
node scripts/bench-webhooks.mjs | grep -v '^{'
bash scripts/pg.sh stop >/dev/null

say "webhooks: refused 1 MiB deliveries cost the same whatever the project (through wrangler dev)"
node scripts/bench-refusals.mjs | grep -v '^{'

say "soak: deliveries, drains, refusals, PATCHes and cron ticks at once for 60 s (through wrangler dev)"
bash scripts/pg.sh start >/dev/null
set -a; source "$TMPDIR/pg/env"; set +a
node scripts/soak.mjs
bash scripts/pg.sh stop >/dev/null

say "repairs: approve-to-verified latency and database round trips (through wrangler dev)"
bash scripts/pg.sh start >/dev/null
set -a; source "$TMPDIR/pg/env"; set +a
node scripts/bench-repairs.mjs | grep -v '^{'
bash scripts/pg.sh stop >/dev/null
