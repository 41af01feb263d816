#!/usr/bin/env bash
# `npm start`: sets everything up (toolchain, npm packages, local secrets, D1 migrations), then
# runs the demo (scripts/demo.sh): a seeded demo SaaS in localstripe and PostgreSQL, drift of
# every kind, ParityRail set up and run through its API on http://127.0.0.1:8787, and a summary.
#   npm start                   the demo (a second start reuses its data)
#   npm start -- --reset        a new demo;  --seed N  the drift of seed N
#   npm start -- --once         seed, run, print the summary as JSON and stop
#   npm start -- --bare         serve ParityRail without the demo (empty, as for real use)
#   npm start -- --bare --no-dashboard
#                               the same without the dashboard's pages, so that the cron can be
#                               run over HTTP (see below)
set -euo pipefail
export PR_DEMO_T0_MS="${PR_DEMO_T0_MS:-$(date +%s%3N)}"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
BARE=0 NODASH=0
for a in "$@"; do [ "$a" = --bare ] && BARE=1; [ "$a" = --no-dashboard ] && NODASH=1; done
if [ "$BARE" = 1 ] && [ $# -gt $((1 + NODASH)) ]; then echo "--bare takes no other option but --no-dashboard" >&2; exit 2; fi
if [ "$NODASH" = 1 ] && [ "$BARE" = 0 ]; then echo "--no-dashboard goes with --bare" >&2; exit 2; fi
# The demo needs PostgreSQL (and python3-venv for localstripe) as the tests do.
# (Its output goes to stderr: `--once` prints only the JSON summary on stdout.)
if [ "$BARE" = 1 ]; then bash "$PR_ROOT/scripts/tools.sh"; else PR_EXTRA_APT=postgresql bash "$PR_ROOT/scripts/tools.sh" >&2; fi
cd "$PR_ROOT"

if [ ! -f .dev.vars ]; then
  say "writing .dev.vars with a fresh OPERATOR_TOKEN and CREDENTIALS_ENCRYPTION_KEY"
  (umask 077; : > .dev.vars)
  {
    echo "OPERATOR_TOKEN=\"op_$(openssl rand -hex 24)\""
    echo "CREDENTIALS_ENCRYPTION_KEY=\"k1:$(openssl rand -base64 32)\""
  } >> .dev.vars
fi
# Local development has no mail service: the dashboard's sign-in links go to the worker's log.
grep -q '^MAIL_LOG=' .dev.vars || echo 'MAIL_LOG="1"' >> .dev.vars
# A test project's outbound webhooks may reach a receiver on this machine (never in production).
grep -q '^HOOK_ALLOW_PRIVATE=' .dev.vars || echo 'HOOK_ALLOW_PRIVATE="1"' >> .dev.vars

if [ "$BARE" = 0 ]; then
  # The demo keeps its own state, secrets and D1 in .tmp/demo, and builds the worker while
  # its PostgreSQL and localstripe start.
  bash scripts/stripe.sh venv
  exec bash scripts/demo.sh "$@"
fi

say "applying D1 migrations (local)"
CI=true node_modules/.bin/wrangler d1 migrations apply DB --local >/dev/null

say "building the workers (the edge and the coordinator)"
bash scripts/build.sh >"$TMPDIR/build.log" 2>&1 || { cat "$TMPDIR/build.log"; exit 1; }

cat <<'MSG'

ParityRail is starting on http://127.0.0.1:8787 (Ctrl-C stops it).
Create the first org (the operator token is in .dev.vars):

  source .dev.vars
  curl -s -X POST http://127.0.0.1:8787/v1/operator/orgs \
    -H "Authorization: Bearer $OPERATOR_TOKEN" -H 'content-type: application/json' \
    -d '{"name": "Acme", "owner_email": "owner@acme.test"}'

The response holds the owner's first API key; it is shown once.
MSG
# Both workers: the edge (wrangler.toml, on the port) and the coordinator behind it
# (wrangler.coordinator.toml). Each reads the .dev.vars beside its configuration.
CONFIG=(-c wrangler.toml -c wrangler.coordinator.toml)
if [ "$NODASH" = 1 ]; then
  # Both configurations without the edge's [assets] (and their [build]: the build already ran),
  # with this .dev.vars beside them.
  mapfile -t CONFIG < <(node scripts/workers.mjs dev-configs "$TMPDIR/bare" --no-assets)
  cp .dev.vars "$TMPDIR/bare/.dev.vars"
  CONFIG+=(--persist-to "$PR_ROOT/.wrangler/state")
  echo "Run the scheduled jobs (cron) on demand: curl http://127.0.0.1:${PORT:-8787}/cdn-cgi/handler/scheduled"
else
  echo "The dashboard: http://127.0.0.1:${PORT:-8787}/ (sign in with that key). To run the cron over HTTP,"
  echo "start with --bare --no-dashboard: with the pages configured, this wrangler answers"
  echo "/cdn-cgi/handler/scheduled with 'exception' (workers-sdk #9882; fixed in releases that need Node 22)."
fi
echo
exec node_modules/.bin/wrangler dev --local --ip 127.0.0.1 --port "${PORT:-8787}" --test-scheduled "${CONFIG[@]}"
