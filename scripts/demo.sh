#!/usr/bin/env bash
# The demo `npm start` runs (scripts/dev.sh hands over to it after its setup): a throwaway
# PostgreSQL (scripts/pg.sh) and localstripe (scripts/stripe.sh), a seeded demo SaaS with drift
# of every kind (scripts/demo/seed.py), the built workers in `wrangler dev`, and ParityRail set up
# and run through its public API (scripts/demo/drive.py). Everything lives in PR_DEMO_DIR
# (.tmp/demo), apart from the tests' .tmp/pg and .tmp/stripe.
#
#   scripts/demo.sh [--seed N] [--reset] [--once]
#     --seed N  the drift to plant (default: a random one, printed); a seed other than the
#               stored demo's starts over
#     --reset   forget the stored demo and seed a new one
#     --once    print the summary as JSON and stop everything
# env: PORT (worker, default 8787), PR_DEMO_DIR, PR_DEMO_CUSTOMERS (300), PR_DEMO_T0_MS.
# A second start reuses the stored demo when it is intact (no seeding; a new run). Ctrl-C stops
# the worker, localstripe and PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PR_ROOT"
export PR_DEMO_T0_MS="${PR_DEMO_T0_MS:-$(date +%s%3N)}"
DEMO="${PR_DEMO_DIR:-$PR_ROOT/.tmp/demo}"
PORT="${PORT:-8787}"
VENV="${PARITYRAIL_VENV:-$HOME/.cache/parityrail/venv}"
SEED="" RESET=0 ONCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) SEED="${2:?--seed needs a number}"; shift 2 ;;
    --seed=*) SEED="${1#--seed=}"; shift ;;
    --reset) RESET=1; shift ;;
    --once) ONCE=1; shift ;;
    *) echo "demo: unknown option $1 (--seed N, --reset, --once; --bare serves without the demo)" >&2; exit 2 ;;
  esac
done
[ -z "$SEED" ] || [[ "$SEED" =~ ^[0-9]+$ ]] || { echo "demo: --seed takes a number" >&2; exit 2; }

# 711: the postgres user must reach pg/ inside; the secrets in here are files of mode 600.
mkdir -p "$DEMO" && chmod 711 "$DEMO"
exec 9>"$DEMO/lock"
flock -n 9 || { echo "demo: another demo is running on $DEMO" >&2; exit 1; }
export PR_PG_DIR="$DEMO/pg" PR_PG_ONLY_MAIN=1 PR_STRIPE_DIR="$DEMO/stripe" PR_STRIPE_PERSIST=1
WRANGLER_PID="" BG=()
export PR_DEMO_DIR="$DEMO"

# Stops everything this script started, each in its own process group, and waits for it.
stop_all() {
  trap - EXIT INT TERM
  for j in "${BG[@]}"; do kill -TERM -- "-$j" 2>/dev/null || true; done
  if [ -n "$WRANGLER_PID" ]; then kill -INT -- "-$WRANGLER_PID" 2>/dev/null || true; fi
  local spid=""
  [ -f "$DEMO/stripe/pid" ] && spid="$(cat "$DEMO/stripe/pid")"
  bash scripts/stripe.sh stop
  bash scripts/pg.sh stop
  for _ in $(seq 1 50); do
    { [ -n "$WRANGLER_PID" ] && kill -0 -- "-$WRANGLER_PID" 2>/dev/null; } ||
      { [ -n "$spid" ] && kill -0 -- "-$spid" 2>/dev/null; } || break
    sleep 0.1
  done
  [ -z "$WRANGLER_PID" ] || kill -KILL -- "-$WRANGLER_PID" 2>/dev/null || true
  [ -z "$spid" ] || kill -KILL -- "-$spid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Free as a server binds (SO_REUSEADDR): TIME_WAIT left by the last stop does not count.
port_free() { python3 -c 'import socket,sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()' "$1" 2>/dev/null; }
port_free "$PORT" || { echo "demo: port $PORT is taken; choose another with PORT=8788 npm start" >&2; exit 1; }

# Reuse the stored demo when it is complete and asked for.
reuse=0
if [ "$RESET" = 0 ] && [ -f "$DEMO/demo.json" ] && [ -f "$DEMO/expected.json" ] && [ -f "$DEMO/stripe/state.pickle" ] &&
   [ -d "$DEMO/pg/data" ] && [ -d "$DEMO/wrangler" ] && [ -f "$DEMO/.dev.vars" ] &&
   python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d.get("complete") and (not sys.argv[2] or str(d["seed"]) == sys.argv[2]) else 1)' \
     "$DEMO/demo.json" "$SEED"; then
  reuse=1
fi

fresh_state() {
  bash scripts/stripe.sh stop; bash scripts/pg.sh stop
  rm -rf "$DEMO/pg" "$DEMO/stripe" "$DEMO/wrangler" "$DEMO/demo.json" "$DEMO/expected.json" "$DEMO/summary.json"
  (
    umask 077
    echo "OPERATOR_TOKEN=\"op_$(openssl rand -hex 24)\""
    echo "CREDENTIALS_ENCRYPTION_KEY=\"k1:$(openssl rand -base64 32)\""
    # No mail service here: the dashboard's sign-in links go to the worker's log.
    echo 'MAIL_LOG="1"'
  ) > "$DEMO/.dev.vars"
  chmod 600 "$DEMO/.dev.vars"
}
[ "$reuse" = 1 ] || fresh_state
grep -q '^MAIL_LOG=' "$DEMO/.dev.vars" || echo 'MAIL_LOG="1"' >> "$DEMO/.dev.vars"
[ -n "$SEED" ] || SEED="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seed"])' "$DEMO/demo.json" 2>/dev/null || echo $((RANDOM % 9000 + 1000)))"

# The workers are stale unless build/ and build-coordinator/ are newer than every source of
# them (a second start, or dev.sh's own build).
build_stale() {
  local w
  for w in build/index.js build-coordinator/index.js; do
    [ -f "$w" ] && [ -z "$(find src Cargo.toml Cargo.lock -newer "$w" 2>/dev/null | head -n1)" ] || return 0
  done
  return 1
}

start_worker() {
  local stripe_base="http://127.0.0.1:$PR_STRIPE_PORT"
  # The project's wrangler.toml and wrangler.coordinator.toml, with absolute paths, without their
  # [build] (built above) and with STRIPE_API_BASE at the demo's localstripe; secrets come from
  # $DEMO/.dev.vars, which wrangler reads for both configurations (they sit beside it).
  python3 - "$PR_ROOT" "$DEMO" "$stripe_base" <<'PY' || return 1
import re, sys
root, demo, stripe = sys.argv[1:]
for name, assets in (("wrangler.toml", 1), ("wrangler.coordinator.toml", 0)):
    t = open(f"{root}/{name}").read()
    t = re.sub(r"\n\[build\]\n(?:[^\[\n][^\n]*\n)*", "\n", t)
    t = re.sub(r'^main = "([^"]+)"', lambda m: f'main = "{root}/{m.group(1)}"', t, flags=re.M)
    t = re.sub(r'^migrations_dir = "([^"]+)"', lambda m: f'migrations_dir = "{root}/{m.group(1)}"', t, flags=re.M)
    t, n = re.subn(r'^STRIPE_API_BASE = "[^"]*"', f'STRIPE_API_BASE = "{stripe}"', t, flags=re.M)
    t, m = re.subn(r'^directory = "\./([^"]+)"', lambda d: f'directory = "{root}/{d.group(1)}"', t, flags=re.M)
    assert n == 1 and m == assets and "[build]" not in t
    open(f"{demo}/{name}", "w").write(f"# Generated by scripts/demo.sh from {name} on every start.\n" + t)
PY
  CI=true node_modules/.bin/wrangler d1 migrations apply DB --local -c "$DEMO/wrangler.toml" \
    --persist-to "$DEMO/wrangler" >"$DEMO/migrations.log" 2>&1 || { cat "$DEMO/migrations.log" >&2; return 1; }
  setsid node_modules/.bin/wrangler dev --local -c "$DEMO/wrangler.toml" -c "$DEMO/wrangler.coordinator.toml" \
    --persist-to "$DEMO/wrangler" \
    --ip 127.0.0.1 --port "$PORT" --inspector-port "$(free_port)" --test-scheduled \
    --show-interactive-dev-session=false </dev/null >"$DEMO/wrangler.log" 2>&1 &
  WRANGLER_PID=$!
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && return 0
    kill -0 "$WRANGLER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: wrangler dev did not start; its log:" >&2; tail -n 40 "$DEMO/wrangler.log" >&2
  return 1
}

# PostgreSQL and localstripe start (and a fresh demo is seeded) while the worker builds and
# starts, each in a process group of its own (stop_all ends them).
attempt() {
  if [ "$reuse" = 1 ]; then say "demo: starting the stored demo (seed $SEED) from $DEMO"
  else say "demo: seeding a new demo SaaS (seed $SEED) in $DEMO"; fi
  local sys build="" rc=0
  # localstripe's port is chosen here, so the worker can start while it fills.
  PR_STRIPE_PORT="$(free_port)"; export PR_STRIPE_PORT
  setsid bash scripts/demo/systems.sh "$([ "$reuse" = 1 ] && echo resume || echo fresh)" "$SEED" >"$DEMO/systems.log" 2>&1 &
  sys=$!; BG+=("$sys")
  if build_stale; then
    say "demo: building the workers"
    setsid bash scripts/build.sh >"$DEMO/build.log" 2>&1 &
    build=$!; BG+=("$build")
  fi
  if [ -n "$build" ] && ! wait "$build"; then cat "$DEMO/build.log" >&2; echo "demo: the workers' build failed" >&2; exit 1; fi
  start_worker || exit 1
  wait "$sys" || rc=$?
  if [ "$rc" = 5 ]; then tail -n 3 "$DEMO/systems.log" >&2; return 5; fi
  if [ "$rc" != 0 ]; then cat "$DEMO/systems.log" >&2; echo "demo: starting PostgreSQL or localstripe failed" >&2; exit 1; fi
  local flags=()
  [ "$reuse" = 0 ] || flags+=(--reuse)
  [ "$ONCE" = 0 ] || flags+=(--once)
  # Only the driver gets the operator token (it creates the org), and only through its environment.
  PR_DEMO_OPERATOR_TOKEN="$(sed -n 's/^OPERATOR_TOKEN="\(.*\)"$/\1/p' "$DEMO/.dev.vars")" "$VENV/bin/python" scripts/demo/drive.py --dir "$DEMO" \
    --worker "http://127.0.0.1:$PORT" --stripe "http://127.0.0.1:$PR_STRIPE_PORT" "${flags[@]}" || return $?
}

rc=0
attempt || rc=$?
if [ "$rc" = 5 ] && [ "$reuse" = 1 ]; then
  # The stored demo is not intact (or its PostgreSQL port is taken now): start over.
  say "demo: the stored demo cannot be reused; seeding a new one"
  if [ -n "$WRANGLER_PID" ]; then kill -INT -- "-$WRANGLER_PID" 2>/dev/null || true; wait "$WRANGLER_PID" 2>/dev/null || true; WRANGLER_PID=""; fi
  reuse=0; fresh_state; rc=0; attempt || rc=$?
fi
[ "$rc" = 0 ] || exit "$rc"
[ "$ONCE" = 1 ] && exit 0

echo
echo "ParityRail serves on http://127.0.0.1:$PORT (worker log: ${DEMO#"$PR_ROOT"/}/wrangler.log). Ctrl-C stops it, localstripe and PostgreSQL."
echo "The dashboard: http://127.0.0.1:$PORT/ (sign in with the demo key above, or by e-mail: the link is in the worker log)."
echo "The cron cannot be run over HTTP here: with the dashboard's pages configured, this wrangler answers"
echo "/cdn-cgi/handler/scheduled with 'exception' (workers-sdk #9882, fixed in releases that need Node 22)."
wait "$WRANGLER_PID"
