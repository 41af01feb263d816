#!/usr/bin/env bash
# Starts (or stops) a localstripe server (PyPI) on loopback for the tests, filled through the
# official `stripe` library; the Python venv is cached under ~/.cache/parityrail/venv.
#   scripts/stripe.sh start [N_CUSTOMERS]   → writes .tmp/stripe/env (PR_STRIPE_BASE, PR_STRIPE_FILL)
#   scripts/stripe.sh stop
#   scripts/stripe.sh venv                  → only makes sure the venv is there
# PR_STRIPE_DIR moves everything out of .tmp/stripe. PR_STRIPE_PERSIST=1 runs localstripe through
# scripts/demo/localstripe_server.py instead: its state is kept in $DIR/state.pickle across
# restarts (remove the folder to start empty) and it serves Stripe's Entitlements API too (the
# demo uses this). N_CUSTOMERS=0 fills nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
DIR="${PR_STRIPE_DIR:-$PR_ROOT/.tmp/stripe}"
VENV="${PARITYRAIL_VENV:-$HOME/.cache/parityrail/venv}"

venv() {
  if [ ! -x "$VENV/bin/localstripe" ] || ! "$VENV/bin/python" -c "import stripe" 2>/dev/null; then
    say "creating the test venv (localstripe, stripe) in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check localstripe==1.15.10 stripe==12.5.1
  fi
}

case "${1:-}" in
  start)
    venv
    PORT="${PR_STRIPE_PORT:-$(free_port)}"
    "$0" stop
    mkdir -p "$DIR"
    if [ "${PR_STRIPE_PERSIST:-}" = 1 ]; then
      setsid "$VENV/bin/python" "$PR_ROOT/scripts/demo/localstripe_server.py" --port "$PORT" --state "$DIR/state.pickle" >"$DIR/log" 2>&1 &
    else
      setsid "$VENV/bin/localstripe" --port "$PORT" --from-scratch >"$DIR/log" 2>&1 &
    fi
    echo $! > "$DIR/pid"
    for _ in $(seq 1 100); do
      curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/customers" -H "Authorization: Bearer sk_test_x" && break
      sleep 0.1
    done
    if [ "${2:-120}" -gt 0 ]; then
      "$VENV/bin/python" "$PR_ROOT/tests/stripe/fill.py" "http://127.0.0.1:$PORT" "${2:-120}" "$DIR/fill.json"
    fi
    printf 'PR_STRIPE_BASE=http://127.0.0.1:%s\nPR_STRIPE_FILL=%s\n' "$PORT" "$DIR/fill.json" > "$DIR/env"
    ;;
  stop)
    if [ -f "$DIR/pid" ]; then kill -TERM -- "-$(cat "$DIR/pid")" 2>/dev/null || true; rm -f "$DIR/pid"; fi
    ;;
  venv) venv ;;
  *) echo "usage: $0 start [n]|stop|venv" >&2; exit 2 ;;
esac
