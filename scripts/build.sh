#!/usr/bin/env bash
# Builds the worker to build/ with the cached tools (wrangler's [build] command runs this too).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PR_ROOT"
worker-build --release "$@"
# The public Trust page (dashboard/trust/), from the newest test reports in .tmp (none on a fresh
# checkout: every control then shows `not run`).
node scripts/trust.mjs --reports "$TMPDIR" >/dev/null
