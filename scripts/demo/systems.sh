#!/usr/bin/env bash
# The demo's "customer systems" (scripts/demo.sh runs this in its own process group, while the
# worker builds): PostgreSQL and localstripe started fresh and seeded, or resumed as they were.
#   systems.sh fresh SEED | systems.sh resume      (env: PR_PG_DIR, PR_STRIPE_DIR, … from demo.sh)
# Exit 5 when resuming is not possible (the caller starts over).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../env.sh"
cd "$PR_ROOT"
VENV="${PARITYRAIL_VENV:-$HOME/.cache/parityrail/venv}"
if [ "$1" = resume ]; then
  rc=0; bash scripts/pg.sh resume >/dev/null || rc=$?
  case "$rc" in
    0) ;;
    4) echo "demo: the stored PostgreSQL's port is taken now" >&2; exit 5 ;;
    *) echo "demo: the stored PostgreSQL does not start (exit $rc)" >&2; exit 5 ;;
  esac
  bash scripts/stripe.sh start 0
  exit 0
fi
# A port of its own: a PR_PG_PORT in the environment (npm test exports its server's) is not ours.
PR_PG_PORT="$(free_port)" bash scripts/pg.sh start >/dev/null & pg=$!
bash scripts/stripe.sh start 0
wait "$pg"
# The writer's URL (with its password) goes by the environment, never on a command line.
PR_PG_WRITER_URL="$(sed -n 's/^PR_PG_WRITER_URL=//p' "$PR_PG_DIR/env")" \
"$VENV/bin/python" scripts/demo/seed.py --stripe "$(sed -n 's/^PR_STRIPE_BASE=//p' "$PR_STRIPE_DIR/env")" \
  --seed "$2" \
  --customers "${PR_DEMO_CUSTOMERS:-300}" --out "$PR_DEMO_DIR/expected.json"
