#!/usr/bin/env bash
# Starts (or stops) a localstripe server (PyPI) on loopback for the tests, filled through the
# official `stripe` library; the Python venv is cached under ~/.cache/parityrail/venv.
#   scripts/stripe.sh start [N_CUSTOMERS]   → writes .tmp/stripe/env (PR_STRIPE_BASE, PR_STRIPE_FILL)
#   scripts/stripe.sh stop
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
DIR="$PR_ROOT/.tmp/stripe"
VENV="${PARITYRAIL_VENV:-$HOME/.cache/parityrail/venv}"
PORT="${PR_STRIPE_PORT:-$(free_port)}"

case "${1:-}" in
  start)
    if [ ! -x "$VENV/bin/localstripe" ] || ! "$VENV/bin/python" -c "import stripe" 2>/dev/null; then
      say "creating the test venv (localstripe, stripe) in $VENV"
      python3 -m venv "$VENV"
      "$VENV/bin/pip" install -q --disable-pip-version-check localstripe==1.15.10 stripe==12.5.1
    fi
    "$0" stop
    mkdir -p "$DIR"
    setsid "$VENV/bin/localstripe" --port "$PORT" --from-scratch >"$DIR/log" 2>&1 &
    echo $! > "$DIR/pid"
    for _ in $(seq 1 100); do
      curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/customers" -H "Authorization: Bearer sk_test_x" && break
      sleep 0.1
    done
    "$VENV/bin/python" "$PR_ROOT/tests/stripe/fill.py" "http://127.0.0.1:$PORT" "${2:-120}" "$DIR/fill.json"
    printf 'PR_STRIPE_BASE=http://127.0.0.1:%s\nPR_STRIPE_FILL=%s\n' "$PORT" "$DIR/fill.json" > "$DIR/env"
    ;;
  stop)
    if [ -f "$DIR/pid" ]; then kill -TERM -- "-$(cat "$DIR/pid")" 2>/dev/null || true; rm -f "$DIR/pid"; fi
    ;;
  *) echo "usage: $0 start [n]|stop" >&2; exit 2 ;;
esac
