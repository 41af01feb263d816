#!/usr/bin/env bash
# `npm start`: sets everything up (toolchain, npm packages, local secrets, D1 migrations) and
# serves ParityRail on http://127.0.0.1:8787 with its embedded D1, Durable Objects and R2.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$PR_ROOT/scripts/tools.sh"
cd "$PR_ROOT"

if [ ! -f .dev.vars ]; then
  say "writing .dev.vars with a fresh OPERATOR_TOKEN and CREDENTIALS_ENCRYPTION_KEY"
  umask 077
  {
    echo "OPERATOR_TOKEN=\"op_$(openssl rand -hex 24)\""
    echo "CREDENTIALS_ENCRYPTION_KEY=\"k1:$(openssl rand -base64 32)\""
  } > .dev.vars
fi

say "applying D1 migrations (local)"
CI=true node_modules/.bin/wrangler d1 migrations apply DB --local >/dev/null

say "building the worker"
bash scripts/build.sh >"$TMPDIR/build.log" 2>&1 || { cat "$TMPDIR/build.log"; exit 1; }

cat <<'MSG'

ParityRail is starting on http://127.0.0.1:8787 (Ctrl-C stops it).
Create the first org (the operator token is in .dev.vars):

  source .dev.vars
  curl -s -X POST http://127.0.0.1:8787/v1/operator/orgs \
    -H "Authorization: Bearer $OPERATOR_TOKEN" -H 'content-type: application/json' \
    -d '{"name": "Acme", "owner_email": "owner@acme.test"}'

The response holds the owner's first API key; it is shown once.
Run the scheduled jobs (cron) on demand: curl http://127.0.0.1:8787/cdn-cgi/handler/scheduled

MSG
# The build already ran. The cron handler runs on demand: curl http://127.0.0.1:8787/cdn-cgi/handler/scheduled
exec node_modules/.bin/wrangler dev --local --ip 127.0.0.1 --port "${PORT:-8787}" --test-scheduled
